"""The report's findings: each run's own (computed by the analysis, in its Summary)
and the comparison of the runs against the eager one, each with the rule that made it."""

from dataclasses import dataclass


@dataclass
class ShownFinding:
    """A finding as the page lists it: the run it is about ("" for comparisons)."""

    severity: str  # "warn" | "info" | "good"
    run: str
    text: str
    applies_when: str


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
        faster = bool(before and after and after < before)
        out.append(ShownFinding("good" if faster else "info", "", f"{r.label} ({r.mode}) against "
                                f"{runs[base].label} ({runs[base].mode}): " + ", ".join(parts) + ".",
                                "comparison with the eager run (else the first run)"))
    return out


def findings(runs, numbers, compare=True):
    """All findings: per run, then (unless the runs are ranks of one job) the comparison against eager."""
    out = [ShownFinding(f.severity, r.label, f.text, f.applies_when) for r in runs for f in r.summary.findings]
    if compare and len(runs) > 1:
        out += _comparison(runs, numbers)
    return out
