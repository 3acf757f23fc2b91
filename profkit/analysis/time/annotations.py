"""The user's own ranges (record_function, NVTX, gpu_user_annotation) with the work inside them.

A CPU-side range (user_annotation on a host thread) holds the GPU activities launched from that
thread while it was open: their count, GPU time, and the CPU time of the range itself. A GPU-side
range (gpu_user_annotation, drawn on a device's stream) holds the activities that started on that
stream inside it. Ranges nest per thread (or stream) as CPU ops do: `depth` and `parent` (a row
of the same table, -1 for none), so a breakdown reads as a tree. Each count is one sorted search
per range over its thread's launches or its stream's activities: linear-ish, no pairs.
"""

import numpy as np

from profkit.trace.model import first_of_groups, name_mask, nesting

COLUMNS = ["name", "on_gpu", "pid", "tid", "ts", "dur", "end", "depth", "parent", "kernels", "gpu_us"]


def _inside(keys, times, weights, r_keys, r_ts, r_end):
    """(count, sum of weights) of the items whose (key, time) falls in each range's [ts, end] with its key."""
    order = np.lexsort((times, keys))
    keys, times, weights = keys[order], times[order], weights[order]
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    count, total = np.zeros(len(r_ts), np.int64), np.zeros(len(r_ts))
    for key in np.unique(r_keys):
        a, b = np.searchsorted(keys, key, side="left"), np.searchsorted(keys, key, side="right")
        rows = np.flatnonzero(r_keys == key)
        lo = a + np.searchsorted(times[a:b], r_ts[rows], side="left")
        hi = a + np.searchsorted(times[a:b], r_end[rows], side="right")
        count[rows], total[rows] = hi - lo, cum[hi] - cum[lo]
    return count, total


def breakdown(trace):
    """The annotations table with depth, parent, kernels (GPU activities inside) and gpu_us (their time)."""
    ann = trace.annotations.sort_values(["on_gpu", "pid", "tid", "ts", "dur"], ascending=[True, True, True, True, False],
                                        kind="stable", ignore_index=True)
    pid, tid = ann["pid"].to_numpy(np.int64), ann["tid"].to_numpy(np.int64)
    ts, end = ann["ts"].to_numpy(float), ann["end"].to_numpy(float)
    on_gpu = ann["on_gpu"].to_numpy(bool)
    _, thread = first_of_groups(on_gpu.astype(np.int64), pid, tid)  # one id per (side, pid, tid)
    depth, parent, _ = nesting(thread, np.zeros(len(ann), np.int64), end)
    kernels, gpu_us = np.zeros(len(ann), np.int64), np.zeros(len(ann))
    if trace.has_gpu and len(ann):
        g = trace.gpu_launches()
        dur = g["dur"].to_numpy(float)
        cpu = ~on_gpu
        if cpu.any():
            launched = g["launch_ts"].notna().to_numpy()
            lt = g["launch_tid"].to_numpy()
            k, t = _inside(lt[launched].astype(np.int64), g["launch_ts"].to_numpy()[launched], dur[launched],
                           tid[cpu], ts[cpu], end[cpu])
            kernels[cpu], gpu_us[cpu] = k, t
        if on_gpu.any():
            # A GPU-side range sits on (device, stream) as its (pid, tid): one key per pair, shared by both.
            both = np.concatenate([np.stack([g["device"].to_numpy(np.int64), g["stream"].to_numpy(np.int64)], 1),
                                   np.stack([pid[on_gpu], tid[on_gpu]], 1)])
            _, pair = np.unique(both, axis=0, return_inverse=True)
            pair = pair.reshape(-1)
            k, t = _inside(pair[:len(g)], g["ts"].to_numpy(float), dur, pair[len(g):], ts[on_gpu], end[on_gpu])
            kernels[on_gpu], gpu_us[on_gpu] = k, t
    out = ann.assign(depth=depth, parent=parent, kernels=kernels, gpu_us=gpu_us)
    return out[COLUMNS]


def by_name(table, regex=None):
    """Per annotation name (those the compiled `regex` finds): ranges, CPU time of the CPU-side ranges,
    kernels and GPU time (CPU side: launched inside; GPU side: ran inside), largest first."""
    t = table if regex is None else table[name_mask(table["name"], regex)]
    t = t.assign(cpu_us=np.where(t["on_gpu"], 0.0, t["dur"]), side=np.where(t["on_gpu"], "gpu", "cpu"))
    return (t.groupby(["name", "side"], observed=True, sort=False)
            .agg(ranges=("dur", "size"), cpu_us=("cpu_us", "sum"), kernels=("kernels", "sum"), gpu_us=("gpu_us", "sum"))
            .reset_index().sort_values(["gpu_us", "cpu_us"], ascending=False, kind="stable", ignore_index=True))

