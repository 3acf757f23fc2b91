"""Step attribution: which profiler step launched each GPU activity.

A GPU activity belongs to the step whose CPU range holds the runtime call that
launched it (launch call -> correlation id -> activity, the join
`Trace.gpu_launches` makes). Kernels replayed from a CUDA graph carry the
correlation id of their cudaGraphLaunch, so they belong to the step that called
it. The time window an activity happens to run in does not matter: work queued
by step N that runs while the CPU is already in step N+1 still counts for N.

`Steps.source` says how steps were found (stable names, used in the JSON):

- "cpu_profiler_step": CPU-side ``ProfilerStep#N`` ranges (user annotations, or
  operators in 2021 traces); activities are attributed by their launch call.
- "gpu_annotation": no CPU-side steps, but GPU-side ``ProfilerStep#N``
  annotations; an activity belongs to the annotation its start lies in.
- "none": no steps at all. The whole trace is one pseudo-step (``step`` None),
  so per-step figures are whole-trace totals; `Steps.warning` says so.

Activities launched outside every step (warm-up, CUDA-graph capture, work whose
launch precedes the profiler) are counted in `Steps.outside`, never divided
among steps.

GPU timing of a step (all times in trace µs):

- ``gpu_start_us`` / ``gpu_end_us``: first start / last end of its activities;
- ``period_us``: ``gpu_start_us`` of the next step minus this one's (None for
  the last step, and wherever either step has no GPU activity). `Steps.period_us`
  gives median / min / max over the steps that have one;
- ``busy_us`` / ``idle_us``: the step's GPU interval is ``[gpu_start_us, next
  step's gpu_start_us)`` (the last step: up to its ``gpu_end_us``); busy is the
  time in it covered by any GPU activity (the union over all streams and
  devices), idle the rest. The intervals tile the GPU timeline from the first
  step's start to the last one's end, so busy + idle over all steps is that span.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from profkit.analysis.time import intervals
from profkit.analysis.result import CPU_STEP, GPU_ANNOTATION, NO_STEPS, Outside, Period, StepRow, Steps
from profkit.trace.model import STEP_NAME, name_mask

__all__ = ["CPU_STEP", "GPU_ANNOTATION", "NO_STEPS", "Outside", "Period", "StepRow", "Steps",
           "StepRanges", "step_ranges", "step_of", "step_of_times", "per_step_sum", "per_step_median",
           "steps_summary"]


@dataclass(frozen=True)
class StepRanges:
    """The step ranges used for attribution: numbers, [start, end] and their source."""

    source: str
    numbers: np.ndarray  # ProfilerStep numbers, in time order
    start: np.ndarray
    end: np.ndarray

    def __len__(self):
        return len(self.numbers)

    @property
    def count(self):
        """Steps to report: the ranges, or 1 (the whole-trace pseudo-step) when there are none."""
        return 1 if self.source == NO_STEPS else len(self.numbers)


def step_ranges(trace):
    """Steps of a trace: CPU-side ProfilerStep ranges, else GPU-side ones, else none."""
    steps = trace.steps
    if len(steps):
        return StepRanges(CPU_STEP, steps["step"].to_numpy(np.int64), steps["ts"].to_numpy(float),
                          steps["end"].to_numpy(float))
    ann = trace.annotations
    gpu_side = ann[ann["on_gpu"].to_numpy() & name_mask(ann["name"], STEP_NAME)]
    gpu_side = gpu_side.assign(step=gpu_side["name"].astype(str).str.extract(STEP_NAME, expand=False).astype(np.int64))
    gpu_side = gpu_side.drop_duplicates("step").sort_values("ts", ignore_index=True)
    if len(gpu_side):
        return StepRanges(GPU_ANNOTATION, gpu_side["step"].to_numpy(np.int64), gpu_side["ts"].to_numpy(float),
                          gpu_side["end"].to_numpy(float))
    empty = np.empty(0)
    return StepRanges(NO_STEPS, np.empty(0, np.int64), empty, empty)


def step_numbers(ranges, idx):
    """ProfilerStep numbers of step indices `idx` (into `ranges`): a nullable Int64 array, missing
    outside every step and when the trace has no steps."""
    idx = np.asarray(idx)
    if ranges.source == NO_STEPS or not len(ranges):
        return pd.array([None] * len(idx), dtype="Int64")
    out = pd.array(ranges.numbers[np.maximum(idx, 0)], dtype="Int64")
    out[idx < 0] = pd.NA
    return out


def step_of_times(ranges, ts):
    """Index (into `ranges`) of the range holding each time in `ts`, -1 for none.

    A time belongs to [start, end] of a range; NaN (unknown) belongs to none.
    With source "none" every known time is in the single pseudo-step 0.
    """
    ts = np.asarray(ts, dtype=float)
    known = ~np.isnan(ts)
    if ranges.source == NO_STEPS:
        return np.where(known, 0, -1).astype(np.int64)
    k = np.searchsorted(ranges.start, np.where(known, ts, -np.inf), side="right") - 1
    kk = np.maximum(k, 0)
    inside = known & (k >= 0) & (ts <= ranges.end[kk])
    return np.where(inside, k, -1).astype(np.int64)


def step_of(trace, gpu=None, ranges=None):
    """Step index of each GPU activity (row of `gpu`, default trace.gpu_launches()), -1 outside.

    `gpu` must carry `launch_ts` (from Trace.gpu_launches) for CPU steps and `ts`
    for GPU-side ones. The index is a position in `step_ranges(trace)` (0 for the
    whole-trace pseudo-step when the trace has no steps).
    """
    ranges = step_ranges(trace) if ranges is None else ranges
    if gpu is None:
        gpu = trace.gpu_launches()
    if ranges.source == GPU_ANNOTATION:
        return step_of_times(ranges, gpu["ts"].to_numpy(float))
    if ranges.source == NO_STEPS:
        return np.zeros(len(gpu), np.int64)
    return step_of_times(ranges, gpu["launch_ts"].to_numpy(float))


def per_step_sum(idx, values, count):
    """Sum of `values` per step (array of length `count`); rows with idx -1 are left out."""
    idx = np.asarray(idx)
    keep = idx >= 0
    return np.bincount(idx[keep], weights=np.asarray(values, dtype=float)[keep], minlength=count)[:count]


def per_step_median(idx, values, count):
    """Median over steps of the per-step sum of `values` (None when there are no steps).

    Counts per step: pass `values=np.ones(len(idx))`; a class's time per step:
    pass its durations with the other classes' set to 0.
    """
    if count <= 0:
        return None
    return float(np.median(per_step_sum(idx, values, count)))


def steps_summary(trace, ranges, gpu=None, idx=None):
    """The Steps result of a trace (GPU traces; CPU-only traces get their step ranges, no GPU work).

    ranges: step_ranges(trace); gpu: the GPU activities with their launches (default
    trace.gpu_launches()) and idx their steps (default step_of them)."""
    if gpu is None:
        gpu = trace.gpu_launches() if trace.has_gpu else None
    warning = None
    if ranges.source == NO_STEPS:
        warning = "no ProfilerStep in the trace: per-step figures are for the whole trace (one pseudo-step)"
    n = ranges.count
    if gpu is None or not len(gpu):
        rows = [_row(ranges, i, first=None, last=None, gpu_ops=0, kernels=0, kernel_time_us=0.0, gpu_time_us=0.0,
                     period_us=None, busy_us=0.0, idle_us=0.0) for i in range(n)]
        return Steps(count=n, source=ranges.source, outside=Outside(), period_us=Period(), per_step=rows,
                     warning=warning)

    idx = step_of(trace, gpu, ranges) if idx is None else idx
    ts, end, dur = gpu["ts"].to_numpy(float), gpu["end"].to_numpy(float), gpu["dur"].to_numpy(float)
    kernel = (gpu["kind"] == "kernel").to_numpy()
    out = idx < 0
    no_launch = out & np.isnan(gpu["launch_ts"].to_numpy(float)) if "launch_ts" in gpu else out & False
    outside = Outside(gpu_ops=int(out.sum()), time_us=float(dur[out].sum()), kernels=int((out & kernel).sum()),
                      kernel_time_us=float(dur[out & kernel].sum()), no_launch=int(no_launch.sum()),
                      no_launch_time_us=float(dur[no_launch].sum()))

    ops = per_step_sum(idx, np.ones(len(idx)), n)
    kernels = per_step_sum(idx, kernel, n)
    ktime = per_step_sum(idx, np.where(kernel, dur, 0.0), n)
    gtime = per_step_sum(idx, dur, n)
    first = np.full(n, np.nan)
    last = np.full(n, np.nan)
    sel = ~out
    np.fmin.at(first, idx[sel], ts[sel])
    np.fmax.at(last, idx[sel], end[sel])

    # Each step's GPU interval runs to the next step's start (the last: to its own end).
    has = ~np.isnan(first)
    nxt = np.full(n, np.nan)
    nxt[:-1] = first[1:]
    period = nxt - first  # NaN where either step has no GPU work
    stop = np.where(np.isnan(nxt), last, nxt)
    starts, ends = intervals.union(ts, end)
    a, b = np.where(has, first, 0.0), np.where(has, stop, 0.0)
    busy = intervals.busy_before(starts, ends, b) - intervals.busy_before(starts, ends, a)
    idle = np.where(has, stop - first, 0.0) - busy

    rows = [_row(ranges, i, first=_f(first[i]), last=_f(last[i]), gpu_ops=int(ops[i]), kernels=int(kernels[i]),
                 kernel_time_us=float(ktime[i]), gpu_time_us=float(gtime[i]), period_us=_f(period[i]),
                 busy_us=float(busy[i]), idle_us=float(idle[i])) for i in range(n)]
    p = period[~np.isnan(period)]
    per = Period(float(np.median(p)), float(p.min()), float(p.max()), int(len(p))) if len(p) else Period()
    return Steps(count=n, source=ranges.source, outside=outside, period_us=per, per_step=rows, warning=warning)


def _f(x):
    return None if x is None or np.isnan(x) else float(x)


def _row(ranges, i, *, first, last, **work):
    """Step i's StepRow: its number and range from `ranges`, its GPU interval [first, last] and the
    counts and times of `work` (StepRow's field names)."""
    real = ranges.source != NO_STEPS
    return StepRow(step=int(ranges.numbers[i]) if real else None, gpu_start_us=first, gpu_end_us=last, **work,
                   range_start_us=float(ranges.start[i]) if real else None,
                   range_dur_us=float(ranges.end[i] - ranges.start[i]) if real else None)
