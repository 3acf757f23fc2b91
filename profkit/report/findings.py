"""The report's findings: each run's own (computed by the analysis, in its Summary:
profkit.analysis.advice.findings) and the comparison of the runs against the eager one, which
says whether the difference is larger than the runs' measured noise."""

from dataclasses import dataclass, field

from profkit.common.noise import COMPARE_RULE, exceeds_noise, unfit_for_comparison
from profkit.report.fmt import evidence
from profkit.report.metrics import speedups


@dataclass
class ShownFinding:
    """A finding as the page lists it: the run it is about ("" for comparisons)."""

    severity: str  # "warn" | "info" | "good"
    run: str
    text: str
    applies_when: list
    rule: str = "comparison"
    action: str = ""
    evidence: object = None
    numbers: list = field(default_factory=list)  # [(name, value text)] of the evidence


def _comparison(runs, numbers):
    """Each run against the eager one: what changed, the page's one speed-up figure, and a
    verdict only where both runs were timed under conditions that can carry one (COMPARE_RULE)."""
    up = speedups(runs, numbers)
    base = up.base if up else next((i for i, r in enumerate(runs) if r.mode == "eager"), 0)
    b, out = numbers[base], []
    for i, (r, n) in enumerate(zip(runs, numbers)):
        if i == base:
            continue
        parts = [f"idle {b.idle_pct:.0f}% → {n.idle_pct:.0f}%"]
        if b.launches_per_step and n.launches_per_step is not None:
            parts.append(f"kernel launches per step {b.launches_per_step:.0f} → {n.launches_per_step:.0f}")
        elif b.launches and n.launches is not None:
            parts.append(f"kernel launches {b.launches} → {n.launches}")
        if up:
            before, after = getattr(b, up.key) * up.to_ms, getattr(n, up.key) * up.to_ms
            parts.append(f"speed-up {up.values[i]:.2f}× ({before:,.2f} → {after:,.2f} ms, {up.basis})")
        unfit = unfit_for_comparison([(runs[base].label, b.noise, b.threads), (r.label, n.noise, n.threads)])
        real = None if unfit else exceeds_noise(b.spread, n.spread)
        if unfit:
            verdict = "no verdict: " + "; ".join(unfit)
        elif real is None:
            verdict = "no verdict: noise not measured (no timed runs nor profiler steps to compare)"
        else:
            verdict = (f"{b.spread['what']} ranges {_range(b.spread)} vs {_range(n.spread)} ms "
                       + ("do not overlap: the difference exceeds the measured noise" if real else
                          "overlap: the difference is within the measured noise"))
        faster = bool(up and up.values[i] > 1)
        out.append(ShownFinding("good" if faster and real else "info", "", f"{r.label} ({r.mode}) against "
                                f"{runs[base].label} ({runs[base].mode}): " + ", ".join(parts) + f"; {verdict}.",
                                ["comparison with the eager run (else the first run)", COMPARE_RULE]))
    return out


def _range(s):
    return f"{s['min_ms']:,.2f}–{s['max_ms']:,.2f}"


def findings(runs, numbers, compare=True):
    """All findings: per run, then (unless the runs are ranks of one job) the comparison against eager."""
    out = [ShownFinding(f.severity, r.label, f.text, f.applies_when, f.rule, f.action, f.evidence,
                        [evidence(k, v) for k, v in f.evidence.numbers.items() if v is not None])
           for r in runs for f in r.summary.findings]
    if compare and len(runs) > 1:
        out += _comparison(runs, numbers)
    return out
