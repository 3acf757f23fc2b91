"""What a launch is: call kinds, and launch counts per kind and per step against a plain json parse."""

import gzip
import json
import re
import statistics
from collections import Counter

import pandas as pd
import pytest

import profkit
from profkit.analysis.time.launches import KINDS, blocking, call_kind, launch_summary
from profkit.analysis.time.steps import step_ranges
from tests.helpers.traces import real_trace, summary_json

EAGER = "kineto-rtx5080-mlp-train-eager.json.gz"
GRAPH = "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz"
# Every launch-like name in the real traces, by hand.
BY_HAND = {
    "kernel": {"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "hipLaunchKernel",
               "hipExtModuleLaunchKernel", "hipModuleLaunchKernel", "cudaLaunchCooperativeKernel"},
    "graph": {"cudaGraphLaunch", "hipGraphLaunch", "cuGraphLaunch"},
    "memcpy": {"cudaMemcpy", "cudaMemcpyAsync", "hipMemcpyWithStream", "cuMemcpyDtoH_v2", "cuMemcpyHtoDAsync_v2"},
    "memset": {"cudaMemsetAsync", "hipMemsetAsync", "cuMemsetD32_v2"},
    "sync": {"cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "hipDeviceSynchronize",
             "cuCtxSynchronize"},
}
NOT_LAUNCHES = ["cudaEventQuery", "cudaStreamWaitEvent", "cudaLaunchHostFunc", "cudaStreamIsCapturing",
                "cudaGraphInstantiate", "INVALID", "cudaOccupancyMaxActiveBlocksPerMultiprocessor"]


def test_call_kinds():
    for kind, names in BY_HAND.items():
        for name in names:
            assert call_kind(name) == kind, name
    for name in NOT_LAUNCHES:
        assert call_kind(name) is None, name
    names = pd.Series(["cudaMemcpy", "cudaMemcpyAsync", "cuMemcpyDtoH_v2", "cuMemcpyDtoHAsync_v2",
                       "cudaStreamSynchronize", "cudaLaunchKernel"], dtype="category")
    assert list(blocking(names)) == [True, False, True, False, True, False]


def plain_counts(path):
    """Calls per kind, per ProfilerStep range, with json and the names above."""
    xs = [e for e in json.loads(gzip.open(path).read())["traceEvents"] if e.get("ph") == "X"]
    steps = [(e["ts"], e["ts"] + e["dur"]) for e in xs
             if e.get("cat") == "user_annotation" and re.fullmatch(r"ProfilerStep#\d+", e["name"])]
    calls = [e for e in xs if e.get("cat") in ("cuda_runtime", "cuda_driver")]
    kind = {n: k for k, names in BY_HAND.items() for n in names}
    total = Counter(kind.get(e["name"]) for e in calls)
    cpu = Counter()
    for e in calls:
        cpu[kind.get(e["name"])] += e["dur"]
    per_step = {k: [sum(1 for e in calls if kind.get(e["name"]) == k and s <= e["ts"] <= f) for s, f in steps]
                for k in KINDS}
    return total, cpu, per_step


@pytest.mark.parametrize("name", [EAGER, GRAPH])
def test_launch_counts_match_plain_parse(name):
    path = real_trace(name)
    got = launch_summary(trace := profkit.load(path), step_ranges(trace))
    total, cpu, per_step = plain_counts(path)
    for k in KINDS:
        row = getattr(got, k)
        assert row.count == total[k]
        assert row.cpu_us == pytest.approx(cpu[k])
        assert row.per_step_median == pytest.approx(statistics.median(per_step[k]))
        assert row.outside_steps == total[k] - sum(per_step[k])
    assert (got.count, got.cpu_us) == (got.kernel.count, got.kernel.cpu_us)


def test_summary_kernel_launches_are_kernel_launches_only():
    # The graph trace: 14 cudaLaunchKernel, 7 cudaGraphLaunch, 14 cudaMemcpyAsync.
    s = summary_json(profkit.load(real_trace(GRAPH)))
    launches = s["launches"]
    assert (launches["count"], launches["graph"]["count"], launches["memcpy"]["count"]) == (14, 7, 14)
    assert launches["kernel"]["per_step_median"] == 2
    assert s["cuda_graphs"]["launches"] == 7


def test_per_step_counts_without_cpu_steps(tmp_path):
    def x(cat, name, ts, dur, **args):
        return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": 1, "args": args}

    calls = [x("cuda_runtime", "cudaLaunchKernel", t, 1, correlation=c) for c, t in ((1, 0), (2, 5), (3, 8))]
    kernels = [x("kernel", "k", t, 5, correlation=c) for c, t in ((1, 10), (2, 20), (3, 60))]
    # GPU-side steps: a call belongs to the step its kernel ran in (2 in step 7, 1 in step 8).
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps({"traceEvents": calls + kernels + [
        x("gpu_user_annotation", "ProfilerStep#7", 0, 50), x("gpu_user_annotation", "ProfilerStep#8", 50, 50)]}))
    got = launch_summary(trace := profkit.load(path), step_ranges(trace))
    assert (got.count, got.kernel.per_step_median, got.kernel.outside_steps) == (3, 1.5, 0)
    # No steps at all: the whole trace is one step.
    path = tmp_path / "none.json"
    path.write_text(json.dumps({"traceEvents": calls + kernels}))
    got = launch_summary(trace := profkit.load(path), step_ranges(trace))
    assert (got.kernel.per_step_median, got.kernel.outside_steps) == (3, 0)
