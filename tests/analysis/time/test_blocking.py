"""Gap causes by mechanism: which calls block the host (from the CUDA/HIP API references, not from
names met), and a gap the host spent inside a blocking copy is a sync gap, not a host-bound one."""

import gzip
import json

import numpy as np
import pandas as pd

import profkit
from profkit.analysis.time import launches as L
from tests.helpers.traces import real_trace, summary_json

MI250 = "hta/amd_trace/mi250_minitoy_train_ROCm6_2_kineto.json.gz"


def test_blocking_calls_follow_the_api_references():
    blocking = ["cudaMemcpy", "cudaMemcpy2D", "cudaMemcpyToSymbol", "cudaMemcpyPeer", "cuMemcpyDtoH_v2",
                "cuMemcpyHtoD_v2", "hipMemcpy", "hipMemcpyWithStream", "hipMemcpyDtoH", "cudaFree",
                "cuMemFree_v2", "hipFree", "cudaFreeHost", "cudaMallocHost", "cudaHostAlloc", "hipHostMalloc",
                "cudaStreamSynchronize", "cudaDeviceSynchronize", "hipEventSynchronize", "cuCtxSynchronize"]
    not_blocking = ["cudaMemcpyAsync", "cudaMemcpy2DAsync", "cuMemcpyDtoHAsync_v2", "hipMemcpyAsync",
                    "hipMemcpyWithStreamAsync", "cudaFreeAsync", "cudaMallocAsync", "cudaMalloc", "cudaLaunchKernel",
                    "cudaEventQuery", "cudaStreamWaitEvent", "cudaMemsetAsync", "hipLaunchKernel"]
    got = L.blocking(pd.Series(blocking + not_blocking))
    assert got.tolist() == [True] * len(blocking) + [False] * len(not_blocking)


def test_async_copies_of_pageable_memory_block():
    """cudaMemcpyAsync to pageable memory is synchronous with the host (CUDA's API sync behaviour):
    its device activity says "Pageable"."""
    t = profkit.load(real_trace("kineto-h100-owlv2-large-hf-eager-infer.json.gz"))
    calls = L.blocking_calls(t)
    pageable = t.gpu[t.gpu["name"].astype(str).str.contains("Pageable")]
    async_calls = t.runtime[t.runtime["name"].astype(str) == "cudaMemcpyAsync"]
    expected = int(async_calls["correlation"].isin(pageable["correlation"]).sum())
    assert expected > 0 and int((calls["name"] == "cudaMemcpyAsync").sum()) == expected


def _blocked_copy(tmp_path, block_us=460_000.0):
    """The shared MI250 trace with the host held `block_us` in its second hipMemcpyWithStream (the
    copy itself unchanged, as on the ROCm trace where one such call took 460 ms)."""
    doc = json.loads(gzip.decompress(real_trace(MI250).read_bytes()))
    call = sorted((e for e in doc["traceEvents"] if e.get("name") == "hipMemcpyWithStream"), key=lambda e: e["ts"])[1]
    t0 = call["ts"]
    for e in doc["traceEvents"]:
        if e is call:
            e["dur"] += block_us
        elif isinstance(e.get("ts"), (int, float)) and e["ts"] > t0:
            e["ts"] += block_us
        elif e.get("ph") == "X" and e["ts"] <= t0 < e["ts"] + e.get("dur", 0):
            e["dur"] += block_us  # the ops and the step around the call stretch with it
    path = tmp_path / "blocked.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return path


def test_a_gap_spent_in_a_blocking_copy_is_sync_and_graphs_do_not_remove_it(tmp_path):
    s = summary_json(profkit.load(_blocked_copy(tmp_path)))
    big = max(s["gaps"]["largest"], key=lambda g: g["dur_us"])
    assert big["dur_us"] > 400_000 and big["cause"] == "sync"
    f = {x["rule"]: x for x in s["findings"]}
    assert "hipMemcpyWithStream inside aten::copy_" in f["sync_gaps"]["text"]
    assert "CUDA graphs cannot remove this wait" in f["sync_gaps"]["action"]
    cg = s["whatif"]["cudagraph"]
    assert cg["speedup"] < 1.1 and "cudagraph_whatif" not in f  # the wait stays under graphs
    # By hand: the call covers the gap (starts within it, ends after the copy that ends it).
    t = profkit.load(_blocked_copy(tmp_path))
    call = t.runtime[t.runtime["name"].astype(str) == "hipMemcpyWithStream"].iloc[1]
    gap_end = big["start_us"] + big["dur_us"]
    covered = min(call["end"], gap_end) - max(call["ts"], big["start_us"])
    assert covered >= 0.5 * big["dur_us"]


def test_the_same_trace_unblocked_has_no_long_sync_gap():
    s = summary_json(profkit.load(real_trace(MI250)))
    assert max(g["dur_us"] for g in s["gaps"]["largest"]) < 10_000
    assert "sync_gaps" not in {x["rule"] for x in s["findings"]}
    eager = summary_json(profkit.load(real_trace("kineto-rtx5080-mlp-train-eager.json.gz")))
    assert eager["gaps"]["by_cause"]["sync"]["count"] == 0 and np.isclose(
        eager["gaps"]["by_cause"]["host_bound"]["total_us"] + eager["gaps"]["by_cause"]["other"]["total_us"],
        eager["gaps"]["total_us"])
