"""GPU busy/idle time, idle gaps and their causes.

Busy time is the union of every GPU activity (kernels, memcpy, memset) over all
streams of a device, so overlapping streams are not double counted. An idle gap
is a hole in that union inside the analysis window. Its cause comes from the
CPU side of the activity that ends it:

- host_bound: the launch call of the next activity began only after the GPU had
  gone idle: the CPU could not issue work fast enough (launch overhead, Python);
- sync: host-bound, and the reason is known: the host was blocked in a call that
  waits for the device (launches.blocking: a synchronize, a synchronous copy, a free, a
  cuda_sync event) when the GPU went idle, or for at least BLOCKED_SHARE of the gap
  (a blocking copy issued just after the device drained holds the host until the copy
  is done), so nothing could be queued behind the work it waited for;
- other: the work was already launched and still did not start (dependencies
  between streams, gaps inside a graph replay), or its launch is not in the trace.
"""

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from profkit.analysis.time.intervals import busy_before, in_ranges, runs, union
from profkit.analysis.result import CauseTotal, Gap, GapBin, Gaps, StreamIdle, TimelineBin
from profkit.trace.model import STEP_NAME, name_mask

# Gap histogram bin edges (µs); log-spaced like nsys's gap buckets.
GAP_EDGES = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 1e5, np.inf]
HTA_KERNEL_WAIT_US = 30  # HTA's default consecutive_kernel_delay
BLOCKED_SHARE = 0.5  # a gap is sync when blocking calls cover at least this share of it
# HTA 0.5.0's kernel types (hta/utils/utils.py, get_kernel_type), used under --window hta.
_HTA_COMM = re.compile(r"nccl.*Kernel")  # matched at the start of the name
_HTA_MEMORY = re.compile(r"Memcpy|Memset|dma")  # at the start
_HTA_NOT_COMPUTE = re.compile(r"Memcpy|Sync")  # anywhere


@lru_cache(maxsize=1 << 12)
def hta_kernel_type(name):
    """HTA's type of a GPU activity name: "communication" (nccl...Kernel), "memory"
    (Memcpy*/Memset*/dma*), "other" (the name holds "Memcpy" or "Sync", e.g. the
    cuda_sync events "Stream Sync") or "computation" (everything else)."""
    if _HTA_COMM.match(name):
        return "communication"
    if _HTA_MEMORY.match(name):
        return "memory"
    if _HTA_NOT_COMPUTE.search(name):
        return "other"
    return "computation"


def hta_computation(names):
    """Boolean mask over a categorical name Series: HTA counts the activity as computation."""
    table = np.array([hta_kernel_type(str(c)) == "computation" for c in names.cat.categories] + [False])
    return table[names.cat.codes.to_numpy()]


def hta_syncs(trace):
    """cuda_sync events HTA's temporal breakdown counts as GPU work.

    HTA unions every event with a stream: a Stream Sync or Stream Wait Event has
    one, an Event Sync has stream -1 and is left out. With two or more steps it
    keeps, as for kernels, those whose runtime call (same correlation id) began
    before the last step.
    """
    s = trace.syncs[trace.syncs["stream"] >= 0]
    steps = trace.steps
    if len(steps) >= 2 and len(s):
        rt = trace.runtime[trace.runtime["correlation"] >= 0].drop_duplicates("correlation")
        launch = s["correlation"].map(rt.set_index("correlation")["ts"])
        s = s[(launch < steps["ts"].max()).to_numpy()]
    return s


def window(trace, gpu, kind):
    """(start, end, mask over gpu rows) for the analysis window.

    gpu: first to last GPU activity. steps: the GPU-side ProfilerStep ranges when
    the trace has them (what TraceLens uses), else activities launched inside
    CPU-side steps. hta: HTA's rule — with two or more steps, drop activities
    launched from the last step on (HTA treats it as incomplete); the window
    also spans the cuda_sync events HTA counts (hta_syncs).
    """
    mask = np.ones(len(gpu), bool)
    if kind == "steps":
        ann = trace.annotations
        on_gpu = ann[ann["on_gpu"].to_numpy() & name_mask(ann["name"], STEP_NAME)]
        if len(on_gpu):
            lo, hi = on_gpu["ts"].min(), on_gpu["end"].max()
            mask = ((gpu["end"] > lo) & (gpu["ts"] < hi)).to_numpy()
            return float(lo), float(hi), mask
        steps = trace.steps
        if len(steps):
            mask = in_ranges(gpu["launch_ts"].to_numpy(), steps["ts"], steps["end"])
    elif kind == "hta":
        steps = trace.steps
        if len(steps) >= 2:
            mask = (gpu["launch_ts"] < steps["ts"].max()).to_numpy()
    elif kind != "gpu":
        raise ValueError(kind)
    sel = gpu[mask]
    if kind == "hta":
        sel = pd.concat([sel[["ts", "end"]], hta_syncs(trace)[["ts", "end"]]])
    if not len(sel):
        return 0.0, 0.0, mask
    return float(sel["ts"].min()), float(sel["end"].max()), mask


CAUSES = ("host_bound", "sync", "other")


def gaps(gpu, lo, hi, syncs, neighbours=True):
    """Idle gaps of one device's activities in [lo, hi], with cause and neighbours.

    gpu: rows of one device with ts, end, name, launch_ts. syncs: (ts, end)
    arrays of blocking host calls and cuda_sync events. `cause` (and `before`/`after`, the
    names of the activities around each gap, left out with neighbours=False) are categoricals:
    a gap costs a few bytes, not a string per column.
    """
    ts, end, launch = (gpu[c].to_numpy(float) for c in ("ts", "end", "launch_ts"))
    g_start, g_dur, cause, before, after = _gap_arrays(ts, end, launch, lo, hi, _Syncs(*syncs))
    return _gap_frame(g_start, g_dur, cause, before, after, gpu["name"] if neighbours else None)


def gaps_by_device(gpu, lo, hi, syncs):
    """gaps() of each device's activities (devices do not cover for each other), as one frame with a
    `device` column, by device then start. One sort by device and numpy per device: ten thousand
    devices cost ten thousand slices, not ten thousand frames."""
    ts, end, launch = (gpu[c].to_numpy(float) for c in ("ts", "end", "launch_ts"))
    dev = gpu["device"].to_numpy()
    order = np.argsort(dev, kind="stable")  # within a device the rows keep their order
    prepared = _Syncs(*syncs)
    parts = []
    for a, b in runs(dev[order]):
        if b - a == len(order):  # one device: its rows are all rows, in order (no copies of the columns)
            g_start, g_dur, cause, before, after = _gap_arrays(ts, end, launch, lo, hi, prepared)
        else:
            rows = order[a:b]
            g_start, g_dur, cause, before, after = _gap_arrays(ts[rows], end[rows], launch[rows], lo, hi, prepared)
            before, after = rows[before], rows[after]
        parts.append((g_start, g_dur, cause, before, after, np.full(len(g_start), dev[order[a]], np.int64)))
    if not parts:
        return gaps(gpu, lo, hi, syncs).assign(device=-1)
    g_start, g_dur, cause, before, after, device = (c[0] if len(c) == 1 else np.concatenate(c) for c in zip(*parts))
    out = _gap_frame(g_start, g_dur, cause, before, after, gpu["name"])
    out["device"] = device
    return out


class _Syncs:
    """Blocking host intervals prepared once for every device's gaps: sorted by start with the
    running latest end, and their union."""

    def __init__(self, sync_ts, sync_end):
        self.n = len(sync_ts)
        if self.n:
            order = np.argsort(sync_ts)
            self.ts, self.end = sync_ts[order], np.maximum.accumulate(sync_end[order])
            self.union = union(sync_ts, sync_end)


def _gap_arrays(ts, end, launch, lo, hi, syncs):
    """(start, duration, cause code, row before, row after) of the gaps of one device's activities."""
    starts, ends = union(ts, end)
    keep = (ends >= lo) & (starts <= hi)
    starts, ends = np.maximum(starts[keep], lo), np.minimum(ends[keep], hi)
    g_start, g_end = ends[:-1], starts[1:]
    if not len(g_start):
        empty = np.empty(0, np.int64)
        return g_start, g_end - g_start, np.empty(0, np.int8), empty, empty
    # The activity after each gap (first to start at its end) and before it (last to end at its
    # start), found on sorted copies of the two time columns: only the gaps' rows are taken.
    by_start, by_end = np.argsort(ts, kind="stable"), np.argsort(end, kind="stable")
    after = by_start[np.minimum(np.searchsorted(ts[by_start], g_end, side="left"), len(ts) - 1)]
    before = by_end[np.maximum(np.searchsorted(end[by_end], g_start, side="right") - 1, 0)]
    host_bound = launch[after] > g_start  # NaN (no launch found) compares False
    in_sync = np.zeros(len(g_start), bool)
    if syncs.n:
        # A sync is in flight at the gap's start if it began before and ended after it.
        k = np.searchsorted(syncs.ts, g_end, side="left") - 1
        in_sync = (k >= 0) & (syncs.end[np.maximum(k, 0)] > g_start)
        # Or the host spent most of the gap inside blocking calls.
        u_ts, u_end = syncs.union
        blocked = busy_before(u_ts, u_end, g_end) - busy_before(u_ts, u_end, g_start)
        in_sync |= blocked >= BLOCKED_SHARE * (g_end - g_start)
    return g_start, g_end - g_start, np.where(host_bound, np.where(in_sync, 1, 0), 2).astype(np.int8), before, after


def _gap_frame(g_start, g_dur, cause, before, after, names):
    """The gaps as a frame; `names` (the activities' names, None: no neighbour columns) give before/after."""
    out = pd.DataFrame({"start_us": g_start, "dur_us": g_dur})
    if not len(out):
        return out.assign(cause=pd.Categorical([], CAUSES), before="", after="")
    out["cause"] = pd.Categorical.from_codes(cause, CAUSES)
    if names is not None:
        names = names.astype("category").array  # (already one, for trace tables)
        out["before"], out["after"] = names.take(before), names.take(after)
    return out


def gap_rows(g):
    """Gap records from a gaps() frame with a device column."""
    return [Gap(device=int(r.device), start_us=float(r.start_us), dur_us=float(r.dur_us), cause=str(r.cause),
                before=str(r.before), after=str(r.after)) for r in g.itertuples()]


def gap_summary(g, largest=20):
    """Gaps: counts, percentiles, totals per cause, the histogram and the `largest` gaps."""
    dur = g["dur_us"].to_numpy()
    cause = g["cause"].array  # a categorical: each comparison is one of its codes
    by_cause = {c: CauseTotal(count=int((cause == c).sum()), total_us=float(dur[cause == c].sum())) for c in CAUSES}
    counts, _ = np.histogram(dur, bins=GAP_EDGES)
    totals, _ = np.histogram(dur, bins=GAP_EDGES, weights=dur)
    hist = [GapBin(lo_us=float(GAP_EDGES[i]), hi_us=float(GAP_EDGES[i + 1]) if np.isfinite(GAP_EDGES[i + 1]) else None,
                   count=int(counts[i]), total_us=float(totals[i])) for i in range(len(counts))]
    return Gaps(
        count=int(len(g)),
        total_us=float(dur.sum()),
        p50_us=float(np.percentile(dur, 50)) if len(dur) else 0.0,
        p99_us=float(np.percentile(dur, 99)) if len(dur) else 0.0,
        max_us=float(dur.max()) if len(dur) else 0.0,
        by_cause=by_cause,
        histogram=hist,
        largest=gap_rows(g.nlargest(largest, "dur_us")),
    )


def timeline(starts, ends, lo, hi, bins=200):
    """Busy share of `bins` equal slices of [lo, hi] (what a person can see)."""
    if hi <= lo:
        return []
    # Relative to lo: epoch microseconds (~1.7e15) keep only ~0.25 µs of precision.
    starts, ends = np.asarray(starts) - lo, np.asarray(ends) - lo
    edges = np.linspace(0.0, hi - lo, bins + 1)
    b = busy_before(starts, ends, edges)
    width = edges[1] - edges[0]
    return [TimelineBin(start_us=float(lo + edges[i]), end_us=float(lo + edges[i + 1]),
                        busy_pct=float(100 * (b[i + 1] - b[i]) / width)) for i in range(bins)]


def stream_idle(gpu, wait_us=HTA_KERNEL_WAIT_US):
    """HTA's per-stream idle categories, for cross-checking against HTA.

    Consecutive activities on a stream: host_wait if the next launch began after
    the previous activity ended, kernel_wait if the gap is under `wait_us`,
    else other (HTA's get_idle_time_breakdown definitions).
    """
    dev, stream = gpu["device"].to_numpy(), gpu["stream"].to_numpy()
    ts, end, launch = (gpu[c].to_numpy(float) for c in ("ts", "end", "launch_ts"))
    order = np.lexsort((ts, stream, dev))  # per (device, stream), by start: one sort of four columns
    if not (order[1:] > order[:-1]).all():  # (one stream, already by start: nothing to reorder)
        dev, stream, ts, end, launch = dev[order], stream[order], ts[order], end[order], launch[order]
    rows = []
    for a, b in runs(dev, stream):
        prev_end = np.r_[np.nan, end[a:b - 1]]
        # An activity starting before the previous one ended (a duplicated event, or one the stream
        # could not have run) leaves no idle time: the interval is at least 0, never negative.
        interval = np.maximum(ts[a:b] - prev_end, 0.0)
        host = launch[a:b] > prev_end
        kernel = ~host & (interval < wait_us)
        valid = ~np.isnan(interval)
        starts, ends = union(ts[a:b], end[a:b])
        rows.append(StreamIdle(
            device=int(dev[a]), stream=int(stream[a]),
            busy_us=float((ends - starts).sum()),
            idle_us=float(np.nansum(interval)),
            host_wait_us=float(interval[valid & host].sum()),
            kernel_wait_us=float(interval[valid & kernel].sum()),
            other_us=float(interval[valid & ~host & ~kernel].sum()),
        ))
    return rows
