"""`summary_of(tables)`: everything `profkit analyze` reports about one trace, as one typed Summary.

The types, the JSON and its schema live in profkit.analysis.result (docs/schema.md).
GPU traces are described by their GPU activities; CPU-only traces (profkit's CPU
captures) by their leaf CPU ops.
"""

import msgspec
import numpy as np
import pandas as pd

from profkit.analysis.time import intervals
from profkit.analysis.time import temporal
from profkit.analysis.background import Background
from profkit.analysis.classes.classify import CLASSES, coverage, cpu_breakdown, self_time
from profkit.analysis.time.communication import collective_args, communication
from profkit.analysis.cost.efficiency import efficiency_summary
from profkit.analysis.advice.findings import findings
from profkit.analysis.time.cudagraphs import cuda_graph_summary, detect_mode
from profkit.common.hardware import trace_device
from profkit.analysis.time.launches import launch_summary
from profkit.analysis.options import AnalysisOptions
from profkit.analysis.tables import Tables
from profkit.analysis.result import (SCHEMA_VERSION, ClassTime, CpuBreakdown, Device, Efficiency, Kernel, OpTime,
                                    Phase, Summary, Temporal, Window)
from profkit.analysis.cost.roofline import roofline
from profkit.analysis.time.ops import op_times
from profkit.analysis.time.steps import step_of_times, steps_summary
from profkit.analysis.time.whatif import whatif
from profkit.errors import ProfkitError
from profkit.trace import load, secrets
from profkit.trace.model import name_mask

# Traces with at least this many GPU activities + CPU ops compute their efficiency table in a
# forked process (analysis.background) beside the rest of summarize: about 0.2 s saved at
# 500 MB; below it the fork costs more than it saves.
BACKGROUND_ROWS = 200_000
KERNELS_LISTED = 50  # kernels[] of the result: the largest by total time
OPS_LISTED = 50  # ops[] of the result: the launching ops with the most direct GPU time
PHASES = ("prefill", "decode")
NON_COMPUTE = ("memory", "communication")


def summary_of(tables, sidecar=None, options=None):
    """Analyse a trace (its Tables) into a Summary. `sidecar`: the capture's Capture
    (runfiles.sidecar), if any; `options`: an AnalysisOptions (window, peaks, calibration, every_gap,
    whatif_against: the run to check the what-if prediction against)."""
    options = options or AnalysisOptions()
    trace = tables.trace
    recorded = msgspec.to_builtins(sidecar.peaks) if sidecar and sidecar.peaks else None
    peaks = {**options.peaks, "recorded": recorded}  # the peaks a capture recorded come first
    warnings = list(trace.warnings)
    leaked = secrets.warning(trace.meta)
    if leaked:
        warnings.append(leaked)
    classes, by = tables.classes(options.rules)
    big = len(trace.gpu) + len(trace.cpu_ops) >= BACKGROUND_ROWS
    if big and trace.has_gpu:
        trace.gpu_ops()  # the join made once, here: the forked process shares it (copy-on-write)
    efficiency = Background(efficiency_summary, trace, classes, result_type=Efficiency, inline=not big, **peaks)
    graphs = cuda_graph_summary(trace)
    mode = detect_mode(trace, graphs)
    if trace.has_gpu:
        part = _gpu_summary(tables, np.asarray(classes), np.asarray(by), options.window, warnings)
    else:
        if len(trace.runtime):
            warnings.append(f"{len(trace.runtime)} CUDA/HIP runtime calls but no GPU activity recorded "
                            "(kernels missing from the trace): only CPU ops are analysed")
        part = _cpu_summary(tables, classes, warnings)
    if options.every_gap:
        part["gaps"].all = temporal.gap_rows(tables.gaps(options.window))
    roofline_ = _roofline(sidecar, trace, peaks, warnings)
    whatif_ = _whatif(tables, part["cpu"], mode, options.whatif_against, warnings)
    summary = Summary(
        schema_version=SCHEMA_VERSION,
        trace=str(trace.path),
        rank=trace.rank,
        world_size=trace.world_size,
        device=_device(trace),
        mode=mode,
        capture=sidecar,
        cuda_graphs=graphs,
        ops=_ops(trace),
        efficiency=efficiency.result(),
        roofline=roofline_,
        whatif=whatif_,
        findings=[],
        warnings=warnings,
        **part,
    )
    summary.findings = findings(tables, summary, sidecar)
    return summary


def _ops(trace):
    """The OPS_LISTED ops with the most direct GPU time (time/ops.py)."""
    rows = op_times(trace).head(OPS_LISTED)
    return [OpTime(name=str(r.name), calls=int(r.calls), direct_kernel_us=float(r.direct_kernel_us),
                   subtree_kernel_us=float(r.subtree_kernel_us)) for r in rows.itertuples()]


def _whatif(tables, cpu, mode, against, warnings):
    """The what-if prediction (whatif.py), checked against the run at `against` when given."""
    trace = tables.trace
    w = whatif(tables, against=Tables(load(against)) if against else None, breakdown=cpu, mode=mode.name)
    if against and not (w.cudagraph and w.cudagraph.validation or w.compiled and w.compiled.compiled_window_us):
        warnings.append(f"{against} has no {'GPU step' if trace.has_gpu else 'CPU op'} to compare the what-if "
                        "prediction with: it stays unvalidated")
    return w


def _roofline(sidecar, trace, peaks, warnings):
    """The capture's analytical limit; a sidecar without a model config gets none, with a warning."""
    if not sidecar:
        return None
    try:
        return roofline(sidecar, *trace_device(trace, **peaks))
    except ProfkitError as e:
        warnings.append(f"no roofline: {e}")
        return None


def _device(trace):
    """kind, name, count of devices, and kernels_recorded: whether the trace holds the
    run's kernels (False: a GPU run whose kernel events are missing, so nothing may
    be said about GPU busy time, TFLOP/s or top kernels; None: a CPU-only run)."""
    props = trace.device_properties
    name = props[0].get("name") if props and isinstance(props[0], dict) else None
    name = str(name) if name else None
    if not trace.has_gpu:
        kind = "cuda" if len(trace.runtime) else "cpu"
        return Device(kind=kind, name=name, count=0, kernels_recorded=False if kind == "cuda" else None)
    hip = bool(name_mask(trace.runtime["name"], "^hip").any())
    return Device(kind="rocm" if hip else "cuda", name=name, count=int(trace.gpu["device"].nunique()),
                  kernels_recorded=bool((trace.gpu["kind"] == "kernel").any()))


def _class_table(cls, dur, names, *, top, steps, by=None):
    """Time per class and the `top` kernels (CPU traces: ops) of the window's rows, with
    their medians over steps from `steps` (a PerStep of all rows, attributed by launch);
    `by`: the layer that classified each row (GPU traces)."""
    # Names as a categorical (no NaN among them) group by their codes; sorting the distinct names
    # afterwards gives the order grouping the strings gives, so ties among the top kernels fall alike.
    categorical = isinstance(getattr(names, "dtype", None), pd.CategoricalDtype)
    coded = categorical and not names.isna().any()
    names = names.array if coded else names.astype(str).to_numpy() if categorical else names
    df = pd.DataFrame({"cls": pd.Categorical(cls, categories=CLASSES), "dur": dur, "name": names,
                       "by": None if by is None else np.asarray(by, dtype=object)})
    total = float(df["dur"].sum()) or 1.0
    per = df.groupby("cls", observed=False)["dur"].agg(["sum", "count"])
    k = df.groupby("name", observed=True).agg(time_us=("dur", "sum"), n=("dur", "size"), cls=("cls", "first"),
                                              by=("by", "first"))
    if coded:
        k.index = k.index.astype(str)
        k = k.sort_index()
    k = k.nlargest(top, "time_us")
    c_us, c_n = steps.medians("cls", CLASSES)
    k_us, k_n = steps.medians("name", list(k.index))
    classes = {c: ClassTime(time_us=float(per.loc[c, "sum"]), pct=float(100 * per.loc[c, "sum"] / total),
                            count=int(per.loc[c, "count"]), per_step_us=c_us[c], per_step_count_median=c_n[c])
               for c in CLASSES}
    kernels = [Kernel(name=str(n), cls=str(r.cls), count=int(r.n), time_us=float(r.time_us),
                      pct=float(100 * r.time_us / total), per_step_us=k_us[n], per_step_count_median=k_n[n],
                      classified_by=None if by is None else str(r.by))
               for n, r in k.iterrows()]
    return classes, kernels


class PerStep:
    """Rows (GPU activities or CPU ops) with the step that launched each (-1: outside every step)."""

    def __init__(self, cls, names, dur, idx, count):
        # Keys are kept as integer codes into their distinct values (a categorical's codes, else one
        # factorize): grouping a million rows by string would hash every string again per call.
        keep = np.asarray(idx) >= 0
        self._keys = {"cls": self._codes(cls, keep), "name": self._codes(names, keep)}
        self.frame = pd.DataFrame({"dur": np.asarray(dur, dtype=float)[keep], "step": np.asarray(idx)[keep]})
        self.count = count

    @staticmethod
    def _codes(values, keep):
        if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            return values.cat.codes.to_numpy()[keep], pd.Index(values.cat.categories.astype(str))
        codes, uniques = pd.factorize(np.asarray(values, dtype=object)[keep])
        return codes, pd.Index(uniques)

    def medians(self, key, values):
        """({value: median over steps of its time per step}, {value: median of its count per step})."""
        codes, uniques = self._keys[key]
        wanted = uniques.get_indexer(values)
        rows = np.isin(codes, wanted[wanted >= 0])
        g = self.frame[rows].assign(key=codes[rows]).groupby(["key", "step"])["dur"].agg(["sum", "size"])
        steps = range(self.count)
        out_us, out_n = {}, {}
        for v, c in zip(values, wanted):
            rows = g.loc[c] if c >= 0 and c in g.index.get_level_values(0) else g.iloc[0:0]
            out_us[v] = float(np.median(rows["sum"].reindex(steps, fill_value=0.0))) if self.count else None
            out_n[v] = float(np.median(rows["size"].reindex(steps, fill_value=0))) if self.count else None
        return out_us, out_n


def _gpu_summary(tables, classes, by, window_kind, warnings):
    trace = tables.trace
    gpu = trace.gpu_launches()
    gpu["cls"] = classes
    gpu["by"] = by
    gpu["collective"] = collective_args(trace)
    ranges, idx = tables.step_ranges(), tables.gpu_steps()
    steps = steps_summary(trace, ranges, gpu, idx)
    if steps.warning:
        warnings.append(steps.warning)
    launches = launch_summary(trace, ranges, idx)
    per_step = PerStep(gpu["cls"], gpu["name"], gpu["dur"], idx, ranges.count)
    lo, hi, mask = tables.window(window_kind)
    gpu = gpu if mask.all() else gpu[mask]  # (a copy of every column: only when the window drops rows)
    if window_kind != "gpu" and not len(trace.steps):
        warnings.append(f"no ProfilerStep in the trace: window '{window_kind}' is the whole GPU range")
    unlaunched = int(gpu["launch_ts"].isna().sum())
    if unlaunched:
        warnings.append(f"{unlaunched} GPU activities have no matching launch call (cause of their gaps: other)")

    # Busy time is the union of these rows; compute time that of the rows flagged compute.
    # Under --window hta both follow HTA: its kernel types, and cuda_sync events on a stream.
    if window_kind == "hta":
        rows = pd.concat([gpu[["device", "ts", "end"]].assign(compute=temporal.hta_computation(gpu["name"])),
                          temporal.hta_syncs(trace)[["device", "ts", "end"]].assign(compute=False)])
    else:
        rows = gpu[["device", "ts", "end"]].assign(compute=~gpu["cls"].isin(NON_COMPUTE).to_numpy())
    busy = compute = 0.0
    span_total = 0.0
    timeline = []
    # Per device (in device order), over one stable sort by device: slices of four arrays, not frames.
    dev = rows["device"].to_numpy()
    order = np.argsort(dev, kind="stable")
    ts, end, comp = rows["ts"].to_numpy()[order], rows["end"].to_numpy()[order], rows["compute"].to_numpy(bool)[order]
    for a, b in intervals.runs(dev[order]):
        starts, ends = intervals.union(ts[a:b], end[a:b])
        busy += intervals.covered(starts, ends, lo, hi)
        c = comp[a:b]
        cs, ce = intervals.union(ts[a:b][c], end[a:b][c])
        compute += intervals.covered(cs, ce, lo, hi)
        span_total += hi - lo
        if not timeline:
            timeline = temporal.timeline(starts, ends, lo, hi)
    gaps = tables.gaps(window_kind)
    # Busy never exceeds the span but by rounding (spans of 1e18 µs keep no microseconds).
    busy, compute = min(busy, span_total), min(compute, busy, span_total)
    idle = span_total - busy
    classes, kernels = _class_table(gpu["cls"], gpu["dur"].to_numpy(), gpu["name"], top=KERNELS_LISTED,
                                    steps=per_step, by=gpu["by"])
    return {
        "window_us": Window(start=float(lo), end=float(hi), span=float(hi - lo), kind=window_kind),
        "temporal": Temporal(busy_us=busy, idle_us=idle, busy_pct=_pct(busy, span_total),
                             idle_pct=_pct(idle, span_total), compute_us=compute, non_compute_us=busy - compute),
        "gaps": temporal.gap_summary(gaps),
        "timeline": timeline,
        "streams": temporal.stream_idle(gpu),
        "classes": classes,
        "kernels": kernels,
        "coverage": coverage(gpu["name"].astype(str), gpu["dur"].to_numpy(), gpu["by"]),
        "communication": communication(gpu, gpu["cls"], lo, hi),
        "launches": launches,
        "steps": steps,
        "cpu": None,
        "phases": _phases(trace, gpu["launch_ts"], gpu["dur"], gpu["cls"]),
    }


def _cpu_summary(tables, classes, warnings):
    """CPU-only traces: classes by self time of the classified ops.

    Self time (an op's duration minus its children's) counts nested ops
    (aten::linear > aten::addmm > aten::copy_) once each for their own work, so
    class times plus framework overhead add up to the time the ops cover.
    """
    trace = tables.trace
    ops = trace.cpu_ops
    if not len(ops):
        warnings.append("the trace has neither GPU activity nor CPU operators: nothing to analyse")
    own = pd.Series(self_time(ops), index=ops.index)
    units = classes.notna().to_numpy()
    lo, hi = tables.cpu_window()
    span = hi - lo
    starts, ends = intervals.union(ops["ts"].to_numpy(), ops["end"].to_numpy())
    busy = intervals.covered(starts, ends, lo, hi)
    gap_rows = tables.gaps()
    ranges = tables.step_ranges()
    names = ops.loc[units, "name"].astype(str)
    per_step = PerStep(classes[units], names, own[units], step_of_times(ranges, ops.loc[units, "ts"]), ranges.count)
    table, kernels = _class_table(classes[units], own[units].to_numpy(), names, top=KERNELS_LISTED, steps=per_step)
    breakdown = cpu_breakdown(trace, classes)
    return {
        "window_us": Window(start=lo, end=hi, span=span, kind="steps" if len(trace.steps) else "cpu"),
        "temporal": Temporal(busy_us=busy, idle_us=span - busy, busy_pct=_pct(busy, span),
                             idle_pct=_pct(span - busy, span), compute_us=float(own[units].sum()),
                             non_compute_us=busy - float(own[units].sum())),
        "gaps": temporal.gap_summary(gap_rows),
        "timeline": temporal.timeline(starts, ends, lo, hi) if len(starts) else [],
        "streams": [],
        "classes": table,
        "kernels": kernels,
        "coverage": None,
        "communication": None,
        "launches": launch_summary(trace, ranges),
        "steps": steps_summary(trace, ranges),
        "cpu": None if breakdown is None else CpuBreakdown(**{k: v for k, v in breakdown.items() if k != "classes"}),
        "phases": _phases(trace, ops.loc[units, "ts"], own[units], classes[units]),
    }


def _phases(trace, when, dur, cls):
    """Per-phase totals for profkit captures ("prefill"/"decode" annotations).

    Work is attributed to a phase by when it was issued on the CPU (launch time
    of a kernel, start of a CPU op), so queued GPU work counts where it began.
    """
    ann = trace.annotations[~trace.annotations["on_gpu"]]
    ann = ann[ann["name"].isin(PHASES)]
    if not len(ann):
        return None
    when = np.asarray(when, dtype=float)
    dur = np.asarray(dur, dtype=float)
    cls = np.asarray(cls, dtype=object)
    phases = {}
    for name in PHASES:
        a = ann[ann["name"] == name]
        inside = intervals.in_ranges(when, a["ts"], a["end"])
        phases[name] = Phase(
            count=int(len(a)),
            wall_us=float(a["dur"].sum()),
            work_us=float(dur[inside].sum()),
            ops=int(inside.sum()),
            classes={c: float(dur[inside & (cls == c)].sum()) for c in CLASSES},
        )
    return phases


def _pct(part, whole):
    return float(100 * part / whole) if whole > 0 else 0.0
