"""The findings engine: the facts every rule reads, the preconditions, the quality gate, and the
evaluation of a table of rules into Findings (the rules' checks live in time_checks and
work_checks, their table in findings).

Preconditions (PRECONDITIONS) keep advice where it applies: no GPU advice for
CPU runs, no torch.compile advice for compiled runs nor CUDA-graph advice for
graphed ones, no shape-based advice without recorded shapes. Measurement
quality is checked for every rule whose effect is a share of time: the effect
must clear its threshold by more than the run's noise (the CV of its profiler
steps, or of the capture's timed runs when larger), so a share inflated by a
busy machine near the threshold does not become advice.
"""

from collections.abc import Callable
from dataclasses import dataclass
from statistics import median
from typing import NamedTuple

from profkit.analysis.result import Evidence, Finding, Item


@dataclass
class Facts:
    """Everything the rules read, computed once from the trace, its summary and the sidecar."""

    trace: object
    summary: dict
    sidecar: object              # the capture's runfiles.sidecar.Capture, or None
    gpu: bool
    compiled: bool
    graphed: bool
    static_cache: bool
    shapes: bool
    noise_pct: float | None      # the larger of the step CV and the capture's timed-run CV
    noise_source: str
    tables: object               # the trace's derived tables (profkit.analysis.tables.Tables)

    def pct(self, cls):
        c = self.summary.classes.get(cls)
        return c.pct if c is not None else 0.0

    @property
    def idle_pct(self):
        return self.summary.temporal.idle_pct

    def gap_share(self, cause):
        g = self.summary.gaps
        return 100.0 * g.by_cause[cause].total_us / g.total_us if g.total_us else 0.0

    def gaps(self):
        """Every idle gap of the window (DataFrame), the one table the summary's gaps came from."""
        w = self.summary.window_us.kind
        return self.tables.gaps(w if w in ("gpu", "steps", "hta") else "gpu")


def step_noise_pct(trace):
    """Robust CV (%) of the ProfilerStep durations: 1.4826 x MAD / median (the CV of normal noise),
    so one odd step (the first, often shorter or longer) does not pass for noise. None below 3 steps."""
    d = [float(x) for x in trace.steps["dur"]] if len(trace.steps) else []
    if len(d) < 3:
        return None
    mid = median(d)
    return 100.0 * 1.4826 * median(abs(x - mid) for x in d) / mid if mid > 0 else None


def facts(tables, summary, sidecar=None):
    trace = tables.trace
    mode = summary.mode.name
    side_mode = sidecar.mode if sidecar else None
    step_cv = step_noise_pct(trace)
    timing = sidecar.timing if sidecar else None
    run_cv = timing.noise.cv_pct if timing and timing.noise else None
    known = [(v, s) for v, s in ((step_cv, "profiler steps, robust"), (run_cv, "timed runs")) if v is not None]
    noise_pct, source = max(known) if known else (None, "")
    ops = trace.cpu_ops
    return Facts(
        trace=trace, summary=summary, sidecar=sidecar, gpu=bool(trace.has_gpu),
        compiled="compiled" in mode or side_mode == "compiled",
        graphed="cudagraph" in mode or side_mode == "cudagraph",
        static_cache=bool(sidecar and sidecar.compile and sidecar.compile.kv_cache == "static"),
        shapes=bool(len(ops)) and bool(ops["input_dims"].notna().any()),
        noise_pct=noise_pct, noise_source=source, tables=tables)


# -- preconditions -------------------------------------------------------------------------------

PRECONDITIONS = {
    "gpu": (lambda f: f.gpu, "the trace recorded GPU activity (no GPU advice for a CPU run)"),
    "not_compiled": (lambda f: not f.compiled, "the run is not compiled (no torch.compile advice to a compiled run)"),
    "not_graphed": (lambda f: not f.graphed, "the run replays no CUDA graphs (no CUDA-graph advice to a graphed run)"),
    "shapes": (lambda f: f.shapes, "the trace recorded input shapes (record_shapes=True)"),
    "growing_cache": (lambda f: not f.static_cache, "the capture did not use a static KV cache"),
}


def quality(effect, threshold, f):
    """(ok, words): the effect clears its threshold by more than the measured noise."""
    if f.noise_pct is None:
        return True, "noise not measured (fewer than three profiler steps and no capture sidecar)"
    margin = 100.0 * (effect - threshold) / threshold if threshold else float("inf")
    words = (f"margin over the threshold {margin:.0f}% > noise {f.noise_pct:.1f}% "
             f"(CV of the {f.noise_source})")
    return margin > f.noise_pct, words


class Hit(NamedTuple):
    """What a rule's check found: the effect it compared with its threshold (None: no threshold,
    the finding is a statement of fact), the sentence, the action to try and the evidence."""

    effect: float | None
    threshold: float | None
    text: str
    action: str
    evidence: Evidence


@dataclass(frozen=True)
class Rule:
    """One rule of the table: a stable id, its severity, the PRECONDITIONS it needs, its
    thresholds, its check ((Facts, thresholds) -> Hit or None) and a one-line summary."""

    id: str
    severity: str
    needs: tuple
    thresholds: dict
    check: Callable[["Facts", dict], Hit | None]
    summary: str


def gap_items(f, cause, n=3):
    g = f.gaps()
    g = g[g["cause"] == cause].nlargest(n, "dur_us")
    return [Item(kind="gap", name=cause.replace("_", "-"), time_us=float(r.dur_us), start_us=float(r.start_us),
                 detail=f"after {r.before or '—'}; before {r.after or '—'}") for r in g.itertuples()]


def top_items(f, classes, n=3):
    """The top rows of summary.kernels in `classes`: GPU kernels, or the CPU ops of a CPU trace."""
    return [Item(kind="kernel" if f.gpu else "op", name=k.name, time_us=k.time_us, count=k.count, detail=k.cls)
            for k in f.summary.kernels if classes is None or k.cls in classes][:n]


def evaluate(rules, tables, summary, sidecar=None):
    """Every rule of `rules` whose preconditions hold, whose check fires and whose effect clears
    the quality gate, as Findings in table order (`tables`: the trace's derived tables, shared
    with the summary)."""
    f = facts(tables, summary, sidecar)
    timing = sidecar.timing if sidecar else None
    noise = timing.noise if timing else None
    caveat = (f"the capture's timing was noisy ({'; '.join(noise.reasons)}): times and shares "
              "may be inflated" if noise and noise.verdict == "noisy" else None)
    out = []
    for rule in rules:
        checked = []
        for key in rule.needs:
            ok, words = PRECONDITIONS[key]
            if not ok(f):
                break
            checked.append(words)
        else:
            hit = rule.check(f, rule.thresholds)
            if hit is None:
                continue
            if hit.threshold is not None:
                ok, words = quality(hit.effect, hit.threshold, f)
                if not ok:
                    continue
                checked.append(words)
            checked += [f"{k} = {v:g}" for k, v in rule.thresholds.items()]
            if caveat:
                checked.append(caveat)
            out.append(Finding(rule=rule.id, severity=rule.severity, text=hit.text, action=hit.action,
                               evidence=hit.evidence, applies_when=checked))
    return out
