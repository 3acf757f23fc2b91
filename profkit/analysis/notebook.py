"""profkit as a library: `profkit.analyze(path, **options)` for notebooks and scripts.

    import profkit
    a = profkit.analyze("traces/run.json.gz", window="steps")
    a.temporal.busy_pct          # the typed Summary, by attribute (the numbers of `analyze --json`)
    a.findings[0].rule
    a.kernels.groupby("cls")["dur"].sum()   # DataFrame views of the tables the Summary came from
    a.ops.head()                 # per launching op: calls, direct and subtree kernel time (TraceLens's ops_summary)

Options are the command line's names as keyword arguments (window, peak_bw, peak_tflops,
calibration, all_gaps, rules, whatif_against); every error is one ProfkitError. The frames are
built from the same derived tables as the Summary (profkit.analysis.tables), once each.
"""

import html
from functools import cached_property
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

from profkit.analysis.analyze import Analysis, AnalysisOptions, job, load_rules, run_ranks, why_not_a_job
from profkit.analysis.result import Job, Straggler, Summary, encode
from profkit.analysis.time.steps import step_numbers
from profkit.errors import ProfkitError
from profkit.runfiles.sidecar import read_sidecar
from profkit.trace import load

OPTIONS = ("window", "peak_bw", "peak_tflops", "calibration", "all_gaps", "rules", "whatif_against", "jobs")


def options_of(**options):
    """AnalysisOptions from the command line's option names (keyword arguments)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ProfkitError(f"unknown option{'s' * (len(unknown) > 1)} {', '.join(unknown)} "
                           f"(the options are {', '.join(OPTIONS)})")
    kw = {k: v for k, v in options.items() if v is not None}
    if "all_gaps" in kw:
        kw["every_gap"] = bool(kw.pop("all_gaps"))
    if "rules" in kw:
        kw["rules"] = load_rules(Path(kw["rules"]))
    for key in ("calibration", "whatif_against"):
        if key in kw:
            kw[key] = Path(kw[key])
    try:
        return AnalysisOptions(**kw)
    except (TypeError, ValueError) as e:
        raise ProfkitError(str(e)) from None


class TraceAnalysis:
    """One trace's analysis: the typed Summary's blocks as attributes, and DataFrame views."""

    def __init__(self, path, options=None):
        self.path = Path(path)
        self._analysis = Analysis(load(self.path), read_sidecar(self.path), options or AnalysisOptions())

    @property
    def trace(self):
        return self._analysis.trace

    @property
    def summary(self) -> Summary:
        return self._analysis.summary

    @property
    def tables(self):
        """The derived tables the Summary and the frames are built from (analysis.tables.Tables)."""
        return self._analysis.tables

    def __getattr__(self, name):
        if name in Summary.__struct_fields__:
            return getattr(self.summary, name)
        raise AttributeError(name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(Summary.__struct_fields__))

    def to_json(self):
        """The bytes `profkit analyze --json` prints for this trace and these options."""
        return encode(self.summary)

    # -- frames -------------------------------------------------------------------------------
    @cached_property
    def kernels(self):
        """One row per GPU activity (kernels, copies, sets) with its class, the layer that classified it,
        its step, its launch and the op that launched it; CPU traces: one row per CPU op with its class."""
        tables, trace = self._analysis.tables, self.trace
        classes, by = tables.classes(self._analysis.options.rules)
        if not trace.has_gpu:
            ops = trace.cpu_ops
            return pd.DataFrame({"name": ops["name"], "cls": classes, "ts": ops["ts"], "dur": ops["dur"],
                                 "end": ops["end"], "tid": ops["tid"], "depth": ops["depth"]})
        g = trace.gpu_launches()
        step = step_numbers(tables.step_ranges(), tables.gpu_steps())
        return pd.DataFrame({"name": g["name"], "kind": g["kind"], "cls": np.asarray(classes), "classified_by": by,
                             "device": g["device"], "stream": g["stream"], "ts": g["ts"], "dur": g["dur"],
                             "end": g["end"], "step": step, "launch": g["launch_name"],
                             "op": trace.gpu_ops()["op_name"]})

    @cached_property
    def ops(self):
        """One row per op name that launched GPU work: calls (op calls with activities of their own),
        direct_kernel_us (the GPU time of what each call launched itself) and subtree_kernel_us (and
        of what the ops inside it launched), largest first: TraceLens's ops_summary (time/ops.py)."""
        from profkit.analysis.time.ops import op_times

        return op_times(self.trace)

    @cached_property
    def op_shapes(self):
        """One row per op name and input shapes: calls, time_us, flops, bytes, tflops, gbps, compute_pct
        and mue_pct (of the device's peaks, those the analysis used), cls, status (cost.efficiency)."""
        from profkit.analysis.cost.efficiency import op_shapes
        from profkit.common.hardware import trace_device

        a = self._analysis
        recorded = msgspec.to_builtins(a.sidecar.peaks) if a.sidecar and a.sidecar.peaks else None
        hw, _ = trace_device(self.trace, recorded=recorded, **a.options.peaks)
        return op_shapes(self.trace, a.tables.classes(a.options.rules)[0], hw)

    @cached_property
    def gaps(self):
        """Every idle gap of the analysis window: device, start_us, dur_us, cause, before, after."""
        tables = self._analysis.tables
        g = tables.gaps(self._analysis.options.window) if self.trace.has_gpu else tables.gaps()
        return g[["device", "start_us", "dur_us", "cause", *[c for c in ("before", "after") if c in g]]]

    @cached_property
    def steps(self):
        """The profiler steps: step, ts, dur, end (CPU side; GPU-side ranges when only those exist)."""
        r = self._analysis.tables.step_ranges()
        return pd.DataFrame({"step": r.numbers, "ts": r.start, "end": r.end, "dur": r.end - r.start})

    @cached_property
    def classes(self):
        """Time per operator class over the window: time_us, pct, count, per_step_us (median)."""
        rows = {c: {"time_us": t.time_us, "pct": t.pct, "count": t.count, "per_step_us": t.per_step_us}
                for c, t in self.summary.classes.items()}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("cls")

    @cached_property
    def annotations(self):
        """The user's ranges (record_function, NVTX, gpu_user_annotation), nested per thread or stream:
        name, on_gpu, pid, tid, ts, dur, end, depth, parent (a row, -1), kernels and gpu_us (the GPU
        activities a CPU-side range launched, or that ran inside a GPU-side one); see time/annotations.py."""
        from profkit.analysis.time.annotations import breakdown

        return breakdown(self.trace)

    # -- display ------------------------------------------------------------------------------
    def __repr__(self):
        t = self.summary.temporal
        return (f"<profkit analysis of {self.path.name}: {self.summary.device.kind} {self.summary.device.name or ''}, "
                f"mode {self.summary.mode.name}, busy {t.busy_pct:.1f}%, {len(self.summary.findings)} findings>")

    def _repr_html_(self):
        s = self.summary
        t = s.temporal
        shown = [f for f in s.findings if f.severity != "info"][:5] or s.findings[:3]
        items = "".join(f"<li><b>{html.escape(f.rule)}</b>: {html.escape(f.text)}</li>" for f in shown)
        return (f"<div><b>{html.escape(self.path.name)}</b> · {html.escape(s.device.kind)} "
                f"{html.escape(s.device.name or '')} · mode {html.escape(s.mode.name)}<br>"
                f"window {s.window_us.span / 1e3:.2f} ms · busy {t.busy_pct:.1f}% · idle {t.idle_pct:.1f}% · "
                f"{s.gaps.count} gaps<ul>{items}</ul></div>")


class JobAnalysis:
    """A folder of per-rank traces of one job: the typed Job's fields as attributes (ranks, alignment,
    stragglers) and per-rank DataFrames, the breakdowns HTA's TraceAnalysis gives per rank."""

    def __init__(self, folder, options=None):
        from profkit.runfiles.paths import traces_in

        self.path = Path(folder)
        summaries = run_ranks(traces_in(self.path), options or AnalysisOptions())
        why = why_not_a_job(summaries) if len(summaries) > 1 else None
        if why:
            raise ProfkitError(f"{self.path}: not one job ({why}): analyse its traces one by one")
        self.job = job(summaries, self.path)

    def __getattr__(self, name):
        if name in Job.__struct_fields__:
            return getattr(self.job, name)
        raise AttributeError(name)

    def to_json(self):
        """The bytes `profkit analyze --json DIR` prints."""
        return encode(self.job)

    @cached_property
    def temporal(self):
        """Per rank: busy, idle, compute and non-compute time of its window, and the shares (HTA's
        get_temporal_breakdown)."""
        rows = [{"rank": s.rank, **{k: getattr(s.temporal, k) for k in s.temporal.__struct_fields__},
                 "window_us": s.window_us.span} for s in self.job.ranks]
        return pd.DataFrame(rows).set_index("rank")

    @cached_property
    def idle(self):
        """Per rank and stream: idle time by HTA's categories (host_wait, kernel_wait, other)
        (HTA's get_idle_time_breakdown)."""
        rows = [{"rank": s.rank, "stream": st.stream, "device": st.device, "busy_us": st.busy_us, "idle_us": st.idle_us,
                 "host_wait_us": st.host_wait_us, "kernel_wait_us": st.kernel_wait_us, "other_us": st.other_us}
                for s in self.job.ranks for st in s.streams]
        return pd.DataFrame(rows).set_index(["rank", "stream"])

    @cached_property
    def classes(self):
        """Per rank and operator class: time_us, pct, count (HTA's kernel breakdown by type)."""
        rows = [{"rank": s.rank, "cls": c, "time_us": t.time_us, "pct": t.pct, "count": t.count}
                for s in self.job.ranks for c, t in s.classes.items()]
        return pd.DataFrame(rows).set_index(["rank", "cls"])

    @cached_property
    def straggler_ranks(self):
        """The ranks named as stragglers: rank, rule, why, value_us, value_pct (the typed block is
        `stragglers`)."""
        return pd.DataFrame([msgspec.to_builtins(r) for r in self.job.stragglers.ranks],
                            columns=list(Straggler.__struct_fields__))

    def __repr__(self):
        return f"<profkit job of {self.job.world_size} ranks in {self.path.name}>"

    def _repr_html_(self):
        t = self.temporal
        return (f"<div><b>{html.escape(self.path.name)}</b>: {self.job.world_size} ranks · busy "
                f"{t['busy_pct'].min():.1f}–{t['busy_pct'].max():.1f}% · "
                f"{len(self.job.stragglers.ranks)} stragglers</div>")


def open_analysis(path, **options):
    """`profkit.analyze(path, **options)`: the TraceAnalysis of one trace file, or the JobAnalysis of a
    folder of per-rank traces."""
    options = options_of(**options)
    return JobAnalysis(path, options) if Path(path).is_dir() else TraceAnalysis(path, options)
