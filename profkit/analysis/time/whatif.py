"""What-if: predict from an eager trace what CUDA graphs (or compilation) would buy.

CUDA graphs (one graph per profiler step, replayed with one launch call)
change when GPU work starts, not how long it runs. Per step, on the GPU
timeline from the step's first activity to the next step's first activity:

    measured period = work + removed gaps + kept gaps          (exactly)
    predicted       = work + kept gaps + segments x d

- work: union of the step's kernels/copies/memsets (each keeps its duration);
- removed gaps: host-bound idle gaps (temporal.gaps cause "host_bound": the
  launch of the next activity began after the GPU went idle). In a graph the
  next node is already on the GPU, so the gap goes;
- kept gaps: "sync" gaps (the host was blocked in a synchronisation; it still
  is, between graph segments) and "other" gaps (work was queued and still did
  not start: dependencies, launch-path latency);
- segments: one graph launch per step, plus one more per host sync inside the
  step (capture stops at a sync, so the step becomes several graphs);
- d: the GPU-side cost of a graph launch, taken from the same trace: the median
  "other" gap, i.e. how long this GPU took to start work it already had queued.

Bounds on the speed-up: high = every non-sync gap goes and launches cost
nothing (work + sync gaps); low = each removed gap still costs d (the graph
dispatches its nodes no faster than a queued eager stream).

The measured period is the median over steps of the time from one step's first
GPU activity to the next one's (both the measured and predicted periods are
medians over the same steps). Blockers (what stops a step from being captured:
host syncs, `.item()`, `.cpu()`/host copies, data-dependent shapes) are found
with the CPU op that caused them. See docs/whatif.md.
"""

from typing import NamedTuple

import msgspec
import numpy as np
import pandas as pd

from profkit.analysis.classes.classify import cpu_breakdown
from profkit.analysis.result import (BLOCKER_LABELS, Blocker, CompiledWhatIf, CudaGraphWhatIf, StepPrediction,
                                     Validation, WhatIf)
from profkit.analysis.time import intervals, temporal
from profkit.analysis.time.launches import blocking, is_kind
from profkit.analysis.time.steps import NO_STEPS, steps_summary
from profkit.trace.model import name_mask

__all__ = ["Blocker", "StepPrediction", "CudaGraphWhatIf", "CompiledWhatIf", "Validation", "WhatIf",
           "BLOCKER_LABELS", "cudagraph_whatif", "compiled_whatif", "whatif", "measured_period", "validate"]

# Ops whose output size depends on tensor values: the host must read the size back.
DATA_DEPENDENT = ("aten::nonzero", "aten::argwhere", "aten::masked_select", "aten::unique", "aten::_unique",
                  "aten::_unique2", "aten::unique_consecutive", "aten::unique_dim", "aten::bincount",
                  "aten::repeat_interleave", "aten::nonzero_numpy")
ITEM_OPS = ("aten::item", "aten::_local_scalar_dense", "aten::is_nonzero")  # .item(), bool(tensor)
COPY_OPS = ("aten::to", "aten::_to_copy", "aten::copy_", "aten::cpu")
# Memcpys that involve host memory the graph cannot own.
HOST_COPY = r"DtoH|Pageable"
VALIDATION_TOLERANCE = 0.10  # the bar: within 10% of the measured graph period


# -- steps ----------------------------------------------------------------------
def _gpu(tables):
    """GPU activities of the busiest device, with their launch calls, and their steps."""
    gpu, idx = tables.trace.gpu_launches(), tables.gpu_steps()
    if gpu["device"].nunique() > 1:
        dev = gpu.groupby("device")["dur"].sum().idxmax()
        keep = (gpu["device"] == dev).to_numpy()
        gpu, idx = gpu[keep], idx[keep]
    return gpu.reset_index(drop=True), idx


class _Segment(NamedTuple):
    """A step with GPU work: its number, its position in the step ranges, [start, end) on the GPU
    timeline, whether that is a full period, and its [start, end] range for host events."""
    step: int
    pos: int
    start: float
    end: float
    full: bool
    host: tuple


def _segments(tables, gpu, idx):
    """Basis and the steps with GPU work (_Segment).

    Attribution and GPU intervals are steps.py's: a step runs from its first activity
    to the next step's first (the last step to its last end). Without steps the whole
    trace is one pseudo-step."""
    ranges = tables.step_ranges()
    summary = steps_summary(tables.trace, ranges, gpu, idx)
    out = []
    for i, row in enumerate(summary.per_step):
        if row.gpu_start_us is None:
            continue
        end = row.gpu_start_us + row.period_us if row.period_us is not None else row.gpu_end_us
        host = (float(ranges.start[i]), float(ranges.end[i])) if len(ranges) else (-np.inf, np.inf)
        out.append(_Segment(step=row.step if row.step is not None else 0, pos=i, start=row.gpu_start_us, end=end,
                            full=row.period_us is not None, host=host))
    return ("window" if ranges.source == NO_STEPS else "steps"), out


def _rows_by_step(idx, count):
    """(rows sorted by step, keeping their order within a step; bounds): the rows of step i are
    order[bounds[i]:bounds[i + 1]]."""
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(count + 1), side="left")
    return order, bounds


def measured_period(tables):
    """Median GPU step period of a trace (µs, steps.py's); a single step (or none)
    gives its GPU span. None without GPU activity."""
    if not tables.trace.has_gpu:
        return None
    _, segs = _segments(tables, *_gpu(tables))
    if not segs:
        return None
    full = [s.end - s.start for s in segs if s.full]
    return float(np.median(full)) if full else float(segs[0].end - segs[0].start)


# -- blockers -------------------------------------------------------------------
HOST_SYNC_EVENTS = ("Event Sync", "Stream Sync", "Context Sync")  # cuda_sync records of host waits


def _host_syncs(trace):
    """Blocking host calls (launches.blocking), else, in traces that record none, the
    cuda_sync events of host waits. Columns name, ts, tid (-1: unknown thread)."""
    rt = trace.runtime
    calls = rt[blocking(rt["name"])] if len(rt) else rt
    if len(calls):
        return pd.DataFrame({"name": calls["name"].astype(str), "ts": calls["ts"], "tid": calls["tid"]})
    ev = trace.syncs[trace.syncs["name"].astype(str).isin(HOST_SYNC_EVENTS)]
    return pd.DataFrame({"name": ev["name"].astype(str), "ts": ev["ts"], "tid": -1})


def _kind(op, call):
    if op in ITEM_OPS:
        return "item"
    if op in DATA_DEPENDENT or (op and op.startswith(("aten::unique", "aten::_unique"))):
        return "data_dependent_shape"
    if op in COPY_OPS:
        return "to_copy"
    return "host_sync" if call else "host_copy"


def _blockers(tables, gpu, idx, segs, sync):
    """Host syncs and host copies inside the steps, grouped by kind and call."""
    ops = tables.enclosing()
    found = []  # (kind, what, op, step)
    s_name, s_ts, s_tid = sync["name"].to_numpy(), sync["ts"].to_numpy(float), sync["tid"].to_numpy()
    mem = np.flatnonzero((gpu["kind"] == "memcpy").to_numpy() & name_mask(gpu["name"], HOST_COPY))
    m_name, m_idx = gpu["name"].astype(str).to_numpy()[mem], idx[mem]
    m_ts, m_tid = gpu["launch_ts"].to_numpy(float)[mem], gpu["launch_tid"].to_numpy()[mem]
    for seg in segs:
        c0, c1 = seg.host
        for k in np.flatnonzero((s_ts >= c0) & (s_ts <= c1)):
            op = ops.cause(s_tid[k], s_ts[k])
            found.append((_kind(op, True), s_name[k], op, seg.step))
        for k in np.flatnonzero(m_idx == seg.pos):
            op = ops.cause(m_tid[k], m_ts[k]) if not np.isnan(m_ts[k]) else None
            found.append((_kind(op, False), m_name[k], op, seg.step))
    df = pd.DataFrame(found, columns=["kind", "what", "op", "step"])
    out = []
    for (kind, what), g in df.groupby(["kind", "what"], sort=False):
        counts = g["op"].fillna("(no CPU op)").value_counts()
        out.append(Blocker(kind=kind, what=what, ops=tuple((str(o), int(n)) for o, n in counts.items()),
                           count=int(len(g)), steps=int(g["step"].nunique())))
    return tuple(sorted(out, key=lambda b: -b.count))


def _sync_counts(sync, segs):
    """Host syncs inside each segment's host range."""
    ts = np.sort(sync["ts"].to_numpy(float))
    return [int(np.searchsorted(ts, s.host[1], side="right") - np.searchsorted(ts, s.host[0], side="left"))
            for s in segs]


# -- the model ------------------------------------------------------------------
def cudagraph_whatif(tables):
    """Predicted step period under CUDA graphs (a CudaGraphWhatIf), or None without GPU work."""
    if not tables.trace.has_gpu:
        return None
    gpu, idx = _gpu(tables)
    basis, segs = _segments(tables, gpu, idx)
    if not segs:
        return None
    lo, hi = segs[0].start, segs[-1].end
    inside = ((gpu["ts"] < hi) & (gpu["end"] > lo)).to_numpy()
    g = temporal.gaps(gpu.loc[inside, ["ts", "end", "launch_ts"]], lo, hi, tables.syncs(), neighbours=False)
    starts, ends = intervals.union(gpu["ts"].to_numpy()[inside], gpu["end"].to_numpy()[inside])
    other = g["dur_us"][g["cause"] == "other"].to_numpy()
    d = float(np.median(other)) if len(other) else 0.0
    sync = _host_syncs(tables.trace)
    n_sync = _sync_counts(sync, segs)
    is_graph = is_kind(gpu["launch_name"].astype(str), "graph") | (gpu["graph_id"].to_numpy() > 0)
    has_launch = gpu["launch_ts"].notna().to_numpy()
    launch_dur = gpu["launch_dur"].to_numpy()
    # The gaps of one device come sorted by start: a step's gaps are one slice of them.
    g_start, g_dur, g_cause = g["start_us"].to_numpy(), g["dur_us"].to_numpy(), g["cause"].array
    order, bounds = _rows_by_step(idx, tables.step_ranges().count)

    preds = []
    for seg, syncs in zip(segs, n_sync):
        s0, s1 = seg.start, seg.end
        a, b = np.searchsorted(g_start, s0, side="left"), np.searchsorted(g_start, s1, side="left")
        dur, cause = g_dur[a:b], g_cause[a:b]
        removed = cause == "host_bound"
        work = intervals.covered(starts, ends, s0, s1)
        kept = float(dur[~removed].sum())
        sync_gap = float(dur[cause == "sync"].sum())
        rows = order[bounds[seg.pos]:bounds[seg.pos + 1]]
        launched = rows[has_launch[rows] & ~is_graph[rows]]
        segments = 1 + syncs
        # Never slower than measured: the graph launch replaces the eager launch of the first kernel.
        predicted = min(work + kept + segments * d, s1 - s0)
        preds.append(StepPrediction(
            step=seg.step, measured_us=s1 - s0, work_us=work, removed_gaps=int(removed.sum()),
            removed_gap_us=float(dur[removed].sum()), kept_gap_us=kept, sync_gap_us=sync_gap,
            launches=int(len(launched)), launch_cpu_us=float(launch_dur[launched].sum()),
            segments=segments, predicted_us=predicted, best_us=work + sync_gap,
            worst_us=min(predicted + int(removed.sum()) * d, s1 - s0), full_period=seg.full))

    use = [p for p in preds if p.full_period] or preds

    def med(attr):
        return float(np.median([getattr(p, attr) for p in use]))

    measured, step_us, best, worst = med("measured_us"), med("predicted_us"), med("best_us"), med("worst_us")
    if best <= 0:  # steps of zero-length activities: no time to predict from (per step, best <= predicted <= worst)
        return None
    blockers = _blockers(tables, gpu, idx, segs, sync)
    in_steps = np.isin(idx, [s.pos for s in segs])
    graphed = float(100 * is_graph[in_steps].sum() / max(1, in_steps.sum()))
    return CudaGraphWhatIf(
        measured_step_us=measured, step_us=step_us, speedup=measured / step_us,
        low=measured / worst, high=measured / best, best_step_us=best, worst_step_us=worst,
        work_us=med("work_us"), removed_gap_us=med("removed_gap_us"), kept_gap_us=med("kept_gap_us"),
        graph_launch_us=d, launch_gpu_us=float(np.median([p.segments * d for p in use])),
        launches_replaced=int(round(med("launches"))), launch_cpu_us=med("launch_cpu_us"),
        basis=basis, already_graphed_pct=graphed, blockers=blockers,
        assumptions=_assumptions(basis=basis, d=d, n_other=len(other), max_sync=max(n_sync), blockers=blockers,
                                 graphed=graphed), steps=tuple(preds))


def _assumptions(*, basis, d, n_other, max_sync, blockers, graphed):
    out = [
        "kernels and copies keep their eager durations (a graph does not make kernels faster)",
        "host-bound gaps (the next launch began after the GPU went idle) vanish: a graph's nodes are "
        "already on the GPU",
        "sync gaps and gaps the host did not cause (queued work that still waited) stay as measured",
        (f"a graph launch costs the GPU {d:.1f} µs, the median wait of queued work in this trace "
         f"({n_other} such gaps)") if n_other else
        "no queued-work gaps in the trace: a graph launch is taken to cost the GPU nothing",
        "the host's remaining per-step work (input copies, the replay call, the loop) stays shorter than "
        "the predicted GPU step, so the GPU stays fed",
        "the step's allocations and shapes are the same every step (graph capture needs static memory)",
    ]
    if basis == "steps":
        out.insert(1, "each profiler step is captured whole as one graph")
    else:
        out.insert(1, "no profiler steps: the whole GPU range is taken as one step captured as one graph")
    if max_sync:
        out.append(f"host syncs split a step into up to {max_sync + 1} graphs, one launch each; the step "
                   "cannot be captured whole until the blockers are removed")
    elif blockers:
        out.append("host copies inside the step must move out of the graph or into pinned, "
                   "pre-allocated buffers")
    if graphed >= 1:
        out.append(f"{graphed:.0f}% of the GPU work already replays from CUDA graphs: the prediction "
                   "only covers the rest")
    return tuple(out)


# -- validation -----------------------------------------------------------------
def validate(prediction, graph):
    """Compare a CudaGraphWhatIf with the measured period of a CUDA-graph run (its Tables)."""
    measured = measured_period(graph)
    if measured is None or measured <= 0:
        return None
    err = (prediction.step_us - measured) / measured
    return Validation(trace=str(graph.trace.path), measured_us=measured, error_pct=100 * err,
                      within_tolerance=abs(err) <= VALIDATION_TOLERANCE)


# -- compiled mode (CPU traces) -----------------------------------------------------
def compiled_whatif(breakdown, compiled_window_us=None):
    """From the CPU breakdown of an eager CPU run (a result.CpuBreakdown: window_us,
    classified_us, framework_overhead_us) and, if given, a compiled run's window (µs)."""
    if breakdown is None or breakdown.window_us <= 0 or breakdown.classified_us <= 0:
        return None  # no op work to keep: nothing to compare the overhead with
    window, over = breakdown.window_us, breakdown.framework_overhead_us
    rest = window - over  # > 0: the overhead is what the window holds beyond the ops' own work
    comp = compiled_window_us or None
    return CompiledWhatIf(window_us=window, overhead_us=over, overhead_pct=100 * over / window, step_us=rest,
                          speedup=window / rest, compiled_window_us=comp,
                          measured_speedup=window / comp if comp else None)


def whatif(tables, against=None, breakdown=None, mode=None):
    """Both what-ifs a trace supports (`tables`: its Tables): CUDA graphs for GPU traces,
    compilation for CPU ones that are not compiled already (`mode`: the detected execution
    mode's name).

    against: the Tables of a CUDA-graph run (GPU) or compiled run (CPU) of the same
    workload, to check the prediction with; breakdown: the CpuBreakdown of a CPU trace."""
    trace = tables.trace
    if trace.has_gpu:
        cg = cudagraph_whatif(tables)
        if cg is None:
            return WhatIf(cudagraph=None, compiled=None,
                          unavailable="no GPU work with a duration inside the steps to predict from")
        if against is not None:
            cg = msgspec.structs.replace(cg, validation=validate(cg, against))
        return WhatIf(cudagraph=cg, compiled=None)
    if len(trace.runtime):
        return WhatIf(cudagraph=None, compiled=None, unavailable="the trace records a GPU run but no GPU "
                      "activity: its CPU op times are launch costs, not work a CUDA graph would keep")
    if (mode or "").startswith("compiled"):
        return WhatIf(cudagraph=None, compiled=None, unavailable=f"the run is compiled already (detected mode: "
                      f"{mode}): the compilation what-if predicts eager CPU runs; compare with an eager run instead")
    other = cpu_breakdown(against.trace) if against is not None and not against.trace.has_gpu else None
    compiled = compiled_whatif(breakdown, other["window_us"] if other else None)
    return WhatIf(cudagraph=None, compiled=compiled, unavailable=None if compiled else
                  "no classified CPU op work in the window to set the framework overhead against")
