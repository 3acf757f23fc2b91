"""Communication time, exposed communication, overlap and collective bandwidths,
each recomputed from the raw JSON with interval code written here."""

import gzip
import json

import pytest

import profkit
from profkit.analysis.time.communication import kind_of
from tests.helpers.intervals import events, intersect, length, merge
from tests.helpers.traces import real_trace, summary_json

DLRM = [f"kineto-v100x8-dlrm-train-rank{r}.json.gz" for r in range(8)]
VLLM = "kineto-b200-vllm-tp8-rank0-eager.json.gz"


@pytest.mark.parametrize("name", DLRM)
def test_dlrm_overlap_matches_an_independent_interval_computation(name):
    path = real_trace(name)
    kernels = [e for e in events(path) if e.get("ph") == "X" and e.get("cat") == "kernel"]
    comm = merge([(e["ts"], e["ts"] + e["dur"]) for e in kernels if e["name"].startswith("nccl")])
    comp = merge([(e["ts"], e["ts"] + e["dur"]) for e in kernels if not e["name"].startswith("nccl")])
    time_us = length(comm)
    exposed = time_us - intersect(comm, comp)
    got = summary_json(profkit.load(path))["communication"]
    assert got["time_us"] == pytest.approx(time_us)
    assert got["exposed_us"] == pytest.approx(exposed)
    assert got["overlap_pct"] == pytest.approx(100 * (time_us - exposed) / time_us)
    assert len(got["devices"]) == 1 and got["devices"][0]["exposed_us"] == pytest.approx(exposed)
    assert_timeline_adds_up(got)
    # The 2023 traces record no collective metadata: no bandwidths, and the reason why.
    assert got["collectives"] == [] and "no collective metadata" in got["reason"]
    print(f"{name}: communication {time_us:.0f} µs, exposed {exposed:.0f} µs, "
          f"overlap {got['overlap_pct']:.1f}%")


def test_vllm_all_gather_bandwidth_from_the_raw_kernel_args():
    path = real_trace(VLLM)
    ag = [e for e in events(path) if e.get("cat") == "kernel" and "Collective name" in e.get("args", {})]
    assert len(ag) == 1
    a = ag[0]["args"]
    size = max(a["In msg nelems"], a["Out msg nelems"]) * 2  # BFloat16
    algbw = size / (ag[0]["dur"] * 1e-6) / 1e9
    n = a["Group size"]
    got = summary_json(profkit.load(path))["communication"]
    (c,) = got["collectives"]
    assert (c["name"], c["dtype"], c["group_size"], c["count"], c["kind"]) == ("_allgather_base", "BFloat16", 8, 1,
                                                                               "all_gather")
    assert c["bytes"] == size == 402176
    assert c["time_us"] == pytest.approx(ag[0]["dur"])
    assert c["algbw_gbs"] == pytest.approx(algbw)
    assert c["busbw_gbs"] == pytest.approx(algbw * (n - 1) / n)
    # The 73 symmetric-memory all-reduce kernels have no metadata: said, not invented.
    assert got["reason"].startswith("73 of 74 communication kernels")


def ev(cat, name, ts, dur, stream, **args):
    return {"ph": "X", "cat": cat, "name": name, "pid": 0, "tid": stream, "ts": ts, "dur": dur,
            "args": {"device": 0, "stream": stream, **args}}


def coll(name, n_in, n_out, dtype="Float", group=4):
    return {"Collective name": name, "In msg nelems": n_in, "Out msg nelems": n_out, "dtype": dtype,
            "Group size": group}


def test_exposed_communication_on_a_hand_made_trace(tmp_path):
    """comm [0,100) on stream 2; compute [50,80) and [90,120) on stream 1; a memcpy
    [0,50) is not computation. Exposed = 100 - 30 - 10 = 60."""
    evts = [
        ev("kernel", "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)", 0, 100, 2,
           **coll("allreduce", 1000, 1000)),
        ev("kernel", "volta_sgemm_128x64_nn", 50, 30, 1),
        ev("kernel", "volta_sgemm_128x64_nn", 90, 30, 1),
        ev("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", 0, 50, 3),
        ev("kernel", "ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)", 200, 10, 2,
           **coll("_allgather_base", 250, 1000, dtype="BFloat16")),
        ev("kernel", "ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)", 300, 10, 2,
           **coll("_allgather_base", 250, 1000, dtype="BFloat16")),
        ev("kernel", "void (anonymous namespace)::multimem_all_reduce_kernel<float, 16>(float*)", 400, 5, 2),
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"traceEvents": evts}))
    got = summary_json(profkit.load(path))["communication"]
    assert got["time_us"] == 125 and got["exposed_us"] == 125 - 40
    assert got["overlap_pct"] == pytest.approx(100 * 40 / 125)
    by = {c["name"]: c for c in got["collectives"]}
    ar, ag = by["allreduce"], by["_allgather_base"]
    assert (ar["count"], ar["bytes"], ar["time_us"]) == (1, 4000, 100)
    assert ar["algbw_gbs"] == pytest.approx(4000 / 100e-6 / 1e9)
    assert ar["busbw_gbs"] == pytest.approx(ar["algbw_gbs"] * 2 * 3 / 4)
    assert (ag["count"], ag["bytes"], ag["time_us"]) == (2, 2 * 2000, 20)
    assert ag["busbw_gbs"] == pytest.approx(ag["algbw_gbs"] * 3 / 4)
    # A hand-made trace records no launch calls: that is what the reason says is missing.
    assert got["reason"].startswith("1 of 4 communication kernels (5.0 µs unlisted), 1 have no launch call")
    assert_timeline_adds_up(got)


def assert_timeline_adds_up(comm):
    """The strip's slices add up to the totals (one device)."""
    bins = comm["timeline"]
    assert len(bins) == 200

    width = (bins[-1]["end_us"] - bins[0]["start_us"]) / len(bins)  # epoch µs: subtract once

    def total(key):
        return sum(b[key] * width / 100 for b in bins)
    assert total("communication_pct") == pytest.approx(comm["time_us"])
    assert total("exposed_pct") == pytest.approx(comm["exposed_us"])


def test_no_communication_and_unknown_dtypes(tmp_path):
    evts = [ev("kernel", "volta_sgemm_128x64_nn", 0, 10, 1),
            ev("kernel", "ncclDevKernel_Broadcast_RING_LL(x)", 20, 10, 2, **coll("broadcast", 8, 8, dtype="Mystery"))]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"traceEvents": evts[:1]}))
    got = summary_json(profkit.load(path))["communication"]
    assert (got["time_us"], got["exposed_us"], got["overlap_pct"], got["collectives"], got["reason"]) == (
        0, 0, None, [], None)
    path.write_text(json.dumps({"traceEvents": evts}))
    (c,) = summary_json(profkit.load(path))["communication"]["collectives"]
    assert c["bytes"] is None and c["algbw_gbs"] is None and c["busbw_gbs"] is None and c["count"] == 1


@pytest.mark.parametrize("name, kind, n, factor", [
    ("allreduce", "all_reduce", 8, 14 / 8), ("allreduce_coalesced", "all_reduce", 4, 6 / 4),
    ("_allgather_base", "all_gather", 8, 7 / 8), ("allgather_into_tensor_coalesced", "all_gather", 2, 1 / 2),
    ("_reduce_scatter_base", "reduce_scatter", 8, 7 / 8),
    ("reduce_scatter_tensor_coalesced", "reduce_scatter", 4, 3 / 4),
    ("all_to_all", "all_to_all", 8, 7 / 8), ("alltoall_base", "all_to_all", 8, 7 / 8),
    ("broadcast", "broadcast", 8, 1), ("reduce", "reduce", 8, 1),
    ("send", "send_recv", 2, 1), ("recv", "send_recv", 2, 1),
])
def test_nccl_tests_bus_bandwidth_factors(name, kind, n, factor):
    got, f = kind_of(name)
    assert got == kind and f(n) == pytest.approx(factor)


def test_unknown_collective_kind():
    assert kind_of("barrier") == (None, None)


def test_metadata_on_the_launching_record_param_comms_op_is_used(tmp_path):
    """PyTorch releases that record collective metadata only on record_param_comms:
    the B200 trace with the kernel's copy removed gives the same collective."""
    path = real_trace(VLLM)
    with gzip.open(path) as f:
        doc = json.load(f)
    for e in doc["traceEvents"]:
        if e.get("cat") == "kernel":
            for key in ("Collective name", "In msg nelems", "Out msg nelems", "dtype", "Group size"):
                e.get("args", {}).pop(key, None)
    stripped = tmp_path / "stripped.json"
    stripped.write_text(json.dumps(doc))
    got = summary_json(profkit.load(stripped))["communication"]["collectives"]
    assert got == summary_json(profkit.load(path))["communication"]["collectives"]
    assert [c["name"] for c in got] == ["_allgather_base"]


def test_the_reason_for_unlisted_collectives_says_what_is_missing(tmp_path):
    """Kernels whose launch calls were not recorded are not 'custom kernels': the reason says their
    CPU side is missing; kernels launched by ops without metadata are said to be that."""
    import gzip
    import json

    import profkit
    from profkit.analysis.analyze import summarize

    src = real_trace("kineto-v100x8-dlrm-train-rank0.json.gz")
    plain = summarize(profkit.load(src)).communication.reason
    assert "8 were launched by ops that carry none of" in plain and "no launch call" not in plain
    doc = json.loads(gzip.decompress(src.read_bytes()))
    nccl = {e["args"]["correlation"] for e in doc["traceEvents"]
            if e.get("cat") == "kernel" and "nccl" in e["name"].lower()}
    doc["traceEvents"] = [e for e in doc["traceEvents"] if not (
        e.get("cat") in ("cuda_runtime", "cuda_driver") and e.get("args", {}).get("correlation") in nccl)
        and not (e.get("ph") in ("s", "f") and e.get("id") in nccl)]
    path = tmp_path / "no-launch.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    reason = summarize(profkit.load(path)).communication.reason
    assert "of the 8 communication kernels" in reason and "8 have no launch call in the trace" in reason
    assert "launched by ops" not in reason
