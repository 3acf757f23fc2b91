"""What a launch is: the one place that sorts CUDA/HIP runtime and driver calls by kind.

Kinds (`KINDS`), tested in this order on the call's name:

- "kernel": one call per kernel: cudaLaunchKernel(ExC), cudaLaunchCooperativeKernel,
  cuLaunchKernel(Ex), cuLaunchCooperativeKernel (the driver API, how Triton launches),
  hipLaunchKernel, hip(Ext)ModuleLaunchKernel, hipExtLaunchKernel;
- "graph": a CUDA/HIP graph replay: cudaGraphLaunch, cuGraphLaunch, hipGraphLaunch;
- "memcpy": cudaMemcpy*, cuMemcpy*, hipMemcpy* (synchronous or async);
- "memset": cudaMemset*, cuMemset*, hipMemset*;
- "sync": the host waits for the device: cuda/hip Device/Stream/Event Synchronize,
  cuCtxSynchronize, cuStreamSynchronize, cuEventSynchronize.

Every other call (cudaEventQuery, cudaStreamWaitEvent, cudaFuncSetAttribute, ...,
and Kineto's "INVALID") is no launch.

Separately, `blocking` marks the calls that return only once the device has caught up
(idle-gap causes use it), by what the API references say they do, not by the names met:
- the "sync" kind (Device/Stream/Event/Ctx Synchronize, runtime, driver and HIP);
- synchronous copies: every cudaMemcpy*, cuMemcpy* and hipMemcpy* variant without "Async"
  (CUDA Runtime API, "API synchronization behavior": a synchronous memcpy returns once the
  copy is done for device-to-host and host-to-host, after a stream sync for pageable
  host-to-device); hipMemcpyWithStream is one of them despite its stream (HIP API reference:
  it blocks the host like hipMemcpy; PyTorch on ROCm copies with it);
- frees, which synchronise the device (cudaFree, cuMemFree, hipFree, their Host/Array forms;
  not the stream-ordered *Async frees), and page-locked host allocations (cudaMallocHost,
  cudaHostAlloc, cuMemAllocHost, cuMemHostAlloc, hipHostMalloc: CUDA C Programming Guide,
  "Implicit Synchronization");
- an *Async copy whose device activity moves pageable memory (Kineto names it "Memcpy DtoH
  (Device -> Pageable)"): the API makes such a copy synchronous with the host.
A name alone never decides a gap's cause: temporal.gaps also needs the call to be in flight
when the device goes idle, or to cover most of the gap.
"""

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from profkit.analysis.time import steps as st
from profkit.analysis.result import LaunchKind, Launches

__all__ = ["KINDS", "call_kind", "kinds", "is_kind", "blocking", "blocking_calls", "LaunchKind", "Launches", "launch_summary"]

KINDS = ("kernel", "graph", "memcpy", "memset", "sync")
_RULES = (
    ("kernel", re.compile(r"^(?:cuda|hip)(?:Ext)?(?:Module)?LaunchKernel|^cuLaunchKernel|"
                          r"^(?:cuda|hip|cu)LaunchCooperativeKernel")),
    ("graph", re.compile(r"^(?:cuda|hip|cu)GraphLaunch")),
    ("memcpy", re.compile(r"^(?:cuda|cu|hip)Memcpy")),
    ("memset", re.compile(r"^(?:cuda|cu|hip)Memset")),
    ("sync", re.compile(r"^(?:cuda|hip)(?:Device|Stream|Event)Synchronize|^cu(?:Ctx|Stream|Event)Synchronize")),
)
_BLOCKING = re.compile(r"^(?:cuda|cu|hip)Memcpy(?!\w*Async)"
                       r"|^(?:cudaFree|cuMemFree|hipFree|hipHostFree)(?!\w*Async)"
                       r"|^(?:cudaMallocHost|cudaHostAlloc|cuMemAllocHost|cuMemHostAlloc|hipHostMalloc|hipMallocHost)")
_PAGEABLE = re.compile(r"^Memcpy .*Pageable")


@lru_cache(maxsize=1 << 12)
def call_kind(name):
    """Kind of a runtime/driver call name (one of KINDS), or None when it launches nothing."""
    for kind, regex in _RULES:
        if regex.search(name):
            return kind
    return None


@lru_cache(maxsize=1 << 12)
def _blocks(name):
    return call_kind(name) == "sync" or bool(_BLOCKING.search(name))


def _per_name(names, fn, empty):
    """fn applied to each distinct name of a (categorical) Series, mapped back to its rows."""
    cat = names if isinstance(names.dtype, pd.CategoricalDtype) else names.astype(str).astype("category")
    table = np.array([fn(str(c)) for c in cat.cat.categories] + [empty], dtype=object)
    return table[cat.cat.codes.to_numpy()]


def kinds(names):
    """Kind (or None) of each call in a Series of names, e.g. trace.runtime["name"]."""
    return _per_name(names, call_kind, None)


def is_kind(names, kind):
    """Boolean mask: calls of one kind."""
    if kind not in KINDS:
        raise ValueError(kind)
    return kinds(names) == kind


def blocking(names):
    """Boolean mask: calls that block the host until the device is done (syncs, synchronous copies)."""
    return _per_name(names, _blocks, False).astype(bool)


def blocking_calls(trace):
    """The host's blocking calls (`blocking`, and *Async copies of pageable memory) and the
    cuda_sync events, as one frame of name, ts, end: the waits temporal.gaps calls a gap's
    cause "sync" (the summary's gaps, the what-if model, the sync finding)."""
    rt = trace.runtime
    is_sync = blocking(rt["name"]) if len(rt) else np.zeros(0, bool)
    gpu = trace.gpu
    if len(rt) and len(gpu):
        copies = gpu[(gpu["kind"] == "memcpy").to_numpy() & _per_name(gpu["name"], lambda n: bool(
            _PAGEABLE.search(n)), False).astype(bool)]
        is_sync |= rt["correlation"].isin(copies["correlation"]).to_numpy() & is_kind(rt["name"], "memcpy")
    calls = rt.loc[is_sync, ["name", "ts", "end"]].assign(name=lambda d: d["name"].astype(str))
    events = trace.syncs[["name", "ts", "end"]].assign(name=lambda d: d["name"].astype(str))
    return pd.concat([calls, events], ignore_index=True)



def _call_steps(trace, ranges, gpu_steps):
    """Step index of each runtime call: by its start for CPU steps; by the
    activity it launched for GPU-side steps (-1 when it launched none)."""
    rt = trace.runtime
    if ranges.source != st.GPU_ANNOTATION:
        return st.step_of_times(ranges, rt["ts"].to_numpy(float))
    gpu = trace.gpu_launches()
    steps = st.step_of(trace, gpu, ranges) if gpu_steps is None else gpu_steps
    by_corr = pd.Series(steps, index=gpu["correlation"].to_numpy())
    by_corr = by_corr[~by_corr.index.duplicated()]
    return rt["correlation"].map(by_corr).fillna(-1).to_numpy(np.int64)


def launch_summary(trace, ranges, gpu_steps=None):
    """Launch calls of a trace by kind, with per-step medians (`ranges`: step_ranges(trace);
    `gpu_steps`: the step of each row of trace.gpu_launches(), computed when not given)."""
    rt = trace.runtime
    kind = kinds(rt["name"]) if len(rt) else np.empty(0, object)
    idx = _call_steps(trace, ranges, gpu_steps) if len(rt) else np.empty(0, np.int64)
    n = ranges.count
    dur = rt["dur"].to_numpy(float)
    out = {}
    for k in KINDS:
        m = kind == k
        out[k] = LaunchKind(count=int(m.sum()), cpu_us=float(dur[m].sum()),
                            per_step_median=st.per_step_median(idx[m], np.ones(int(m.sum())), n),
                            outside_steps=int((idx[m] < 0).sum()))
    return Launches(count=out["kernel"].count, cpu_us=out["kernel"].cpu_us, **out)
