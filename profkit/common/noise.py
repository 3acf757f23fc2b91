"""How noisy a measurement was: spread of repeated timings and the machine's load.

Every timing profkit records is a median of several runs; this module says how
far apart those runs were and whether the machine was busy, and turns that into
one verdict with the rule that decided it. It is pure arithmetic (no torch, no
OS calls): the capture reads the load (profkit.capture.machine) and passes it in,
the analysis and report read the verdict back from the sidecar.

The rule (NOISE_RULE, printed wherever a verdict is shown):
  noisy when the runs' coefficient of variation exceeds NOISY_CV_PCT, when the
  1-minute load average (before or after) exceeds the number of CPUs, when the
  hypervisor stole more than NOISY_STEAL_PCT of the CPU time, or when fewer than
  MIN_SAMPLES runs were timed (no spread can be measured); quiet otherwise.
"""

from dataclasses import asdict, dataclass
from statistics import mean, median, stdev

NOISY_CV_PCT = 5.0
NOISY_STEAL_PCT = 5.0
MIN_SAMPLES = 2
NOISE_RULE = (f"noisy when the runs' CV > {NOISY_CV_PCT:g}%, the 1-min load average > CPUs, "
              f"CPU steal > {NOISY_STEAL_PCT:g}% or fewer than {MIN_SAMPLES} runs; else quiet")


@dataclass(frozen=True)
class Spread:
    """Spread of repeated measurements (ms)."""

    samples: int
    median_ms: float
    min_ms: float
    max_ms: float
    cv_pct: float | None  # sample standard deviation / mean; None below two samples


def spread(values_ms):
    """Spread of a list of timings in milliseconds."""
    v = [float(x) for x in values_ms]
    if not v:
        raise ValueError("no samples")
    m = mean(v)
    cv = 100.0 * stdev(v) / m if len(v) >= MIN_SAMPLES and m > 0 else None
    return Spread(len(v), round(median(v), 3), round(min(v), 3), round(max(v), 3),
                  None if cv is None else round(cv, 2))


def noise(samples_ms, load_before=None, load_after=None, cpus=None, steal_pct=None):
    """The sidecar's `timing.noise` dict for one capture.

    samples_ms: one total time (ms) per timed run. load_before/after: 1-minute
    load averages; cpus: CPUs the OS reports; steal_pct: CPU steal over the timed
    runs (None where the OS does not report it).
    """
    s = spread(samples_ms)
    reasons = []
    if s.cv_pct is None:
        reasons.append(f"only {s.samples} run: spread unknown")
    elif s.cv_pct > NOISY_CV_PCT:
        reasons.append(f"runs vary by {s.cv_pct:.1f}% (CV > {NOISY_CV_PCT:g}%)")
    loads = [x for x in (load_before, load_after) if x is not None]
    if cpus and loads and max(loads) > cpus:
        reasons.append(f"load average {max(loads):.2f} > {cpus} CPUs")
    if steal_pct is not None and steal_pct > NOISY_STEAL_PCT:
        reasons.append(f"CPU steal {steal_pct:.1f}% > {NOISY_STEAL_PCT:g}%")
    out = asdict(s)
    out.update(
        load_avg={"before": load_before, "after": load_after},
        cpus=cpus,
        steal_pct=steal_pct,
        verdict="noisy" if reasons else "quiet",
        reasons=reasons,
        rule=NOISE_RULE,
    )
    return out


COMPARE_RULE = ("a verdict between two runs needs both timed on a quiet machine (the noise rule) with the same "
                "number of threads; their min–max ranges then decide: a difference counts when they do not overlap")


def unfit_for_comparison(runs):
    """Why these runs' timings cannot carry a verdict between them ([] when they can).

    runs: (label, noise, threads) per run; noise has `verdict` and `reasons` (a sidecar Noise)
    or is None (a foreign trace: its conditions were not recorded, which does not bar it).
    A run timed on a noisy machine, or runs on different thread counts, measure the machine
    as much as the code: any difference between them may be the conditions.
    """
    why = [f"{label} was timed on a noisy machine ({'; '.join(n.reasons)})"
           for label, n, _ in runs if n is not None and n.verdict == "noisy"]
    threads = {t for _, _, t in runs if t is not None}
    if len(threads) > 1:
        why.append("the runs used different thread counts (" + ", ".join(
            f"{label}: {t}" for label, _, t in runs if t is not None) + ")")
    return why


def is_noisy(noise_dict):
    """True for a recorded noisy verdict; False for quiet or when nothing was recorded."""
    return bool(noise_dict) and noise_dict.get("verdict") == "noisy"


def exceeds_noise(a, b):
    """Whether two runs' timing difference is larger than their measured spread.

    a, b: Spread-like dicts (min_ms, max_ms). The difference counts only when
    the ranges do not overlap: every run of one was faster than every run of the
    other. Returns None when either range is missing.
    """
    if not a or not b or a.get("min_ms") is None or b.get("min_ms") is None:
        return None
    return a["max_ms"] < b["min_ms"] or b["max_ms"] < a["min_ms"]
