"""The report's findings: each run's own (computed by the analysis, in its Summary:
profkit.analysis.advice.findings) and the comparison of the runs against the eager one, which
says whether the difference is larger than the runs' measured noise."""

from dataclasses import dataclass, field

from profkit.common.noise import exceeds_noise
from profkit.report.fmt import evidence


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
    base = next((i for i, r in enumerate(runs) if r.mode == "eager"), 0)
    b, out = numbers[base], []
    for r, n in zip(runs, numbers):
        if r is runs[base]:
            continue
        parts = [f"idle {b.idle_pct:.0f}% → {n.idle_pct:.0f}%"]
        if b.launches_per_step and n.launches_per_step is not None:
            parts.append(f"kernel launches per step {b.launches_per_step:.0f} → {n.launches_per_step:.0f}")
        elif b.launches and n.launches is not None:
            parts.append(f"kernel launches {b.launches} → {n.launches}")
        before, after, what = ((b.period_us, n.period_us, "GPU step period (median)") if b.period_us and n.period_us
                               else (b.step_us, n.step_us, "wall time per step"))
        if before and after:
            parts.append(f"{what} {before / 1000:.2f} → {after / 1000:.2f} ms ({before / after:.2f}×)")
        real = exceeds_noise(b.spread, n.spread)
        if real is None:
            verdict = "noise not measured (no timed runs nor profiler steps to compare)"
        else:
            verdict = (f"{b.spread['what']} ranges {_range(b.spread)} vs {_range(n.spread)} ms "
                       + ("do not overlap: the difference exceeds the measured noise" if real else
                          "overlap: the difference is within the measured noise"))
        faster = bool(before and after and after < before)
        out.append(ShownFinding("good" if faster and real else "info", "", f"{r.label} ({r.mode}) against "
                                f"{runs[base].label} ({runs[base].mode}): " + ", ".join(parts) + f"; {verdict}.",
                                ["comparison with the eager run (else the first run)",
                                 "a difference counts when the runs' min–max ranges do not overlap"]))
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
