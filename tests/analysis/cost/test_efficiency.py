"""Per-op and per-class FLOPs, bytes, throughput and MUE."""

import csv
import json

import pandas as pd
import pytest

from profkit.analysis.classes.classify import classify_cpu_ops, classify_gpu
from profkit.analysis.cost.efficiency import BERT_REFERENCE, efficiency_summary, mue, op_table
from profkit.common.hardware import Device
from profkit.analysis.result import CountTime, ReferenceClass
from profkit.trace import load
from tests.helpers.traces import SHARED, ev, raw_events, real_trace, write_kineto

H100 = [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "numSms": 132, "totalGlobalMem": 85018279936}]


def _op(name, ts, dur, ext, dims, types):
    return ev("cpu_op", name, ts, dur, **{"External id": ext, "Input Dims": dims, "Input type": types})


def _launch(ts, corr, ext):
    return ev("cuda_runtime", "cudaLaunchKernel", ts, 2, correlation=corr, **{"External id": ext})


def _kernel(name, ts, dur, corr, ext):
    return ev("kernel", name, ts, dur, pid=0, tid=7, correlation=corr, device=0, stream=7, **{"External id": ext})


def _write(tmp_path, events, props=H100):
    return load(write_kineto(tmp_path / "t.json", events, props))


def test_mue_formula():
    # Q = 1 GB moved in 1 ms on a 2000 GB/s device: 1 TB/s achieved = 50% of peak
    assert mue(1e9, 1000.0, 2000.0) == pytest.approx(50.0)
    assert mue(1e9, 0.0, 2000.0) is None and mue(1e9, 10.0, None) is None


def test_synthetic_kernels_known_t_q_and_peak(tmp_path):
    n = 1024 * 1024
    events = [
        # aten::add of two float [1024,1024] tensors: Q = 3 * 4 MiB, one 12.5 us kernel
        _op("aten::add", 0, 10, 7, [[1024, 1024], [1024, 1024], []], ["float", "float", "Scalar"]),
        _launch(2, 99, 7),
        _kernel("vectorized_elementwise_kernel<add>", 20, 12.5, 99, 7),
        # aten::mm (bf16 512x256 @ 256x128) launching a GEMM and a split-K reduction
        _op("aten::mm", 40, 10, 8, [[512, 256], [256, 128]], ["c10::BFloat16", "c10::BFloat16"]),
        _launch(41, 100, 8), _launch(43, 101, 8),
        _kernel("sm90_xmma_gemm_bf16bf16_bf16f32", 50, 6.0, 100, 8),
        _kernel("splitKreduce_kernel", 57, 2.0, 101, 8),
        # a kernel whose op recorded no shapes
        {"ph": "X", "cat": "cpu_op", "name": "aten::mul", "pid": 1, "tid": 1, "ts": 70, "dur": 5,
         "args": {"External id": 9}},
        _launch(71, 102, 9), _kernel("vectorized_elementwise_kernel<mul>", 80, 4.0, 102, 9),
        # a kernel whose launch and op are outside the trace
        _kernel("vectorized_elementwise_kernel<neg>", 90, 1.5, 555, 55),
    ]
    trace = _write(tmp_path, events)
    classes = ["elementwise", "tensor_contraction", "tensor_contraction", "elementwise", "elementwise"]
    u = op_table(trace, classes, Device(name="d", bandwidth_gbs=1000.0, tflops={"fp32": 50.0, "bf16": 500.0}))
    add = u[u["name"] == "aten::add"].iloc[0]
    assert add["bytes"] == 3 * n * 4 and add["flops"] == n and add["time_us"] == 12.5
    assert add["mue_pct"] == pytest.approx(3 * n * 4 / (12.5e-6 * 1000e9) * 100)
    assert add["compute_pct"] == pytest.approx(n / (12.5e-6 * 50e12) * 100)
    mm = u[u["name"] == "aten::mm"].iloc[0]
    assert mm["time_us"] == 8.0 and mm["kernels"] == 2          # both kernels of one op call
    assert mm["flops"] == 2 * 512 * 256 * 128
    assert mm["tflops"] == pytest.approx(2 * 512 * 256 * 128 / 8e-6 / 1e12)
    assert mm["compute_pct"] == pytest.approx(2 * 512 * 256 * 128 / (8e-6 * 500e12) * 100)
    assert u[u["name"] == "aten::mul"].iloc[0]["status"] == "no_shapes"
    assert u[u["name"].isna()].iloc[0]["status"] == "no_op"

    # The H100 matched from deviceProperties: B^ = 3350 GB/s
    s = efficiency_summary(trace, classes)
    ew = s.classes["elementwise"]
    assert ew.mue_pct == pytest.approx(3 * n * 4 / (12.5e-6 * 3350e9) * 100)
    assert ew.no_shapes == CountTime(count=1, time_us=4.0)
    assert ew.no_op == CountTime(count=1, time_us=1.5)
    assert ew.time_us == 18.0 and ew.counted.time_us == 12.5
    tc = s.classes["tensor_contraction"]
    assert tc.gbps == pytest.approx((512 * 256 + 256 * 128 + 512 * 128) * 2 / 8e-6 / 1e9)
    assert tc.pct_flops + ew.pct_flops == pytest.approx(100)
    # --peak-bw override
    s = efficiency_summary(trace, classes, peak_bw=1000)
    assert s.classes["elementwise"].mue_pct == pytest.approx(3 * n * 4 / (12.5e-6 * 1000e9) * 100)
    # unknown device and no overrides: numbers without peaks, and the reason
    s = efficiency_summary(_write(tmp_path, events, props=[{"id": 0, "name": "Mystery GPU"}]), classes)
    assert s.classes["elementwise"].mue_pct is None
    assert s.classes["elementwise"].gbps == pytest.approx(3 * n * 4 / 12.5e-6 / 1e9)
    assert "Mystery GPU" in s.classes["elementwise"].reason and "--peak-bw" in s.unavailable
    with pytest.raises(ValueError):
        op_table(trace, classes[:2])


def test_cpu_trace_counts_the_outermost_modelled_op(tmp_path):
    # addmm encloses expand / copy_ (bias broadcast) / resolve_conj, as on CPU
    f = "float"
    events = [
        _op("aten::addmm", 0, 100, 1, [[64], [16, 32], [32, 64], [], []], [f, f, f, "Scalar", "Scalar"]),
        _op("aten::expand", 1, 2, 2, [[64], [], []], [f, "ScalarList", "Scalar"]),
        _op("aten::copy_", 4, 10, 3, [[16, 64], [16, 64], []], [f, f, "Scalar"]),
        _op("aten::resolve_conj", 20, 1, 4, [[16, 64]], [f]),
        _op("aten::view", 120, 3, 5, [[16, 64], []], [f, "ScalarList"]),
        _op("aten::gelu", 130, 20, 6, [[16, 64], []], [f, ""]),
    ]
    trace = _write(tmp_path, events, props=[])
    ops = trace.cpu_ops
    leaves = ops[ops["is_leaf"]]
    classes = pd.Series(["memory", "memory", "memory", "other", "elementwise"], index=leaves.index)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"bandwidth_gbs": 20.0, "tflops": {"fp32": 0.5}}))
    s = efficiency_summary(trace, classes, calibration=cal)
    tc = s.classes["tensor_contraction"]           # from the op's kind: the classifier labels leaves
    assert tc.time_us == 100 and tc.flops == 2 * 16 * 32 * 64 + 16 * 64
    assert tc.mue_pct == pytest.approx((64 + 512 + 2048 + 1024) * 4 / (100e-6 * 20e9) * 100)
    assert "memory" not in s.classes               # copy_ inside addmm is not counted twice
    assert s.classes["other"].unmodeled == CountTime(count=1, time_us=3.0)
    assert s.classes["elementwise"].flops == 5 * 16 * 64
    assert s.device.name == "cpu (calibrated)"
    s = efficiency_summary(trace, classes, calibration=tmp_path / "missing.json")
    assert s.classes["tensor_contraction"].mue_pct is None
    assert "profkit calibrate" in s.classes["tensor_contraction"].reason


def _independent_gemm_totals(path):
    """addmm FLOPs and kernel time straight from the JSON: kernel -> launch -> op."""
    events = raw_events(path)
    launch = {e["args"]["correlation"]: e["args"].get("External id") for e in events
              if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    ops = {}
    for e in events:
        if e.get("cat") == "cpu_op" and "External id" in e.get("args", {}):
            cur = ops.get(e["args"]["External id"])
            if cur is None or e["dur"] < cur["dur"]:
                ops[e["args"]["External id"]] = e
    flops, time_us, seen = 0, 0.0, set()
    for e in events:
        if e.get("cat") != "kernel":
            continue
        ext = launch.get(e["args"]["correlation"])
        op = ops.get(ext)
        if op is None or op["name"] != "aten::addmm":
            continue
        time_us += e["dur"]
        if ext not in seen:
            seen.add(ext)
            (m, k), n = op["args"]["Input Dims"][1], op["args"]["Input Dims"][2][1]
            flops += 2 * m * k * n + m * n
    return flops, time_us


@pytest.mark.shared
def test_bert_h100_classes_cross_checked():
    path = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")
    trace = load(path)
    s = efficiency_summary(trace, classify_gpu(trace))
    assert s.device.name.startswith("NVIDIA H100 SXM5")
    tc = s.classes["tensor_contraction"]
    flops, time_us = _independent_gemm_totals(path)
    assert tc.flops == flops and tc.time_us == pytest.approx(time_us)
    assert tc.mue_pct == pytest.approx(tc.bytes / (time_us * 1e-6 * 3350e9) * 100)
    # TraceLens' GEMM kernel time for the same trace (its reference CSV)
    with open(SHARED / "tracelens-ref" / "kineto-h100-bert-small-hf-eager-infer" / "ops_summary_by_category.csv") as f:
        ref = {r["op category"]: float(r["total_direct_kernel_time_ms"]) for r in csv.DictReader(f)}
    assert tc.time_us == pytest.approx(ref["GEMM"] * 1e3, abs=0.01)
    assert s.classes["elementwise"].time_us == pytest.approx(ref["elementwise"] * 1e3, abs=0.01)
    # Shapes were recorded, so nothing is "no_shapes"; the paper's shape holds:
    # contractions dominate FLOPs far more than they dominate time.
    assert s.total.no_shapes == 0
    assert tc.pct_flops > 95 and tc.pct_time < 70
    assert s.classes["normalization"].pct_flops < 1 < s.classes["normalization"].pct_time
    assert s.reference is BERT_REFERENCE
    for c in s.classes.values():
        assert c.mue_pct is None or 0 < c.mue_pct < 100


def test_bert_reference_table():
    ref = BERT_REFERENCE.classes
    assert ref["tensor_contraction"] == ReferenceClass(pct_flops=99.80, pct_time=61.0)
    assert ref["normalization"] == ReferenceClass(pct_flops=0.17, pct_time=25.5)
    assert ref["elementwise"] == ReferenceClass(pct_flops=0.03, pct_time=13.5)
    assert sum(c.pct_flops for c in ref.values()) == pytest.approx(100)
    assert sum(c.pct_time for c in ref.values()) == pytest.approx(100)
    assert "MLSys 2021" in BERT_REFERENCE.source


def test_cpu_profile_with_calibrated_peaks(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    lin = torch.nn.Linear(256, 512)
    x = torch.randn(32, 256)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        y = torch.nn.functional.gelu(lin(x))
        torch.nn.functional.layer_norm(y, (512,))
    path = tmp_path / "cpu.json"
    prof.export_chrome_trace(str(path))
    trace = load(path)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"bandwidth_gbs": 20.0, "tflops": {"fp32": 0.3, "bf16": 2.0, "fp16": 2.0}}))
    s = efficiency_summary(trace, classify_cpu_ops(trace), calibration=cal)
    tc = s.classes["tensor_contraction"]
    assert tc.flops == 2 * 32 * 256 * 512 + 32 * 512   # linear (addmm inside) counted once
    assert tc.mue_pct is not None and tc.compute_pct is not None
    assert s.classes["normalization"].flops == 5 * 32 * 512
    assert s.device.bandwidth_gbs == 20.0 and s.unavailable is None


def test_cpu_op_without_a_formula_still_counts_its_whole_time(tmp_path):
    # aten::cat has no formula (no dtype recorded for tensor lists) and a child:
    # its 100 µs belong to its class, once, not to the child alone.
    f = "float"
    events = [
        _op("aten::cat", 0, 100, 1, [[], []], ["TensorList", "Scalar"]),
        _op("aten::resize_", 10, 5, 2, [[16, 64], []], [f, "ScalarList"]),
        _op("aten::mm", 200, 50, 3, [[16, 32], [32, 64]], [f, f]),
    ]
    trace = _write(tmp_path, events, props=[])
    s = efficiency_summary(trace, classify_cpu_ops(trace))
    assert s.classes["memory"].time_us == 100
    assert s.classes["memory"].unmodeled == CountTime(count=1, time_us=100.0)
    assert s.classes["tensor_contraction"].time_us == 50
    assert s.total.time_us == 150



@pytest.mark.shared
def test_mue_above_peak_is_explained_by_l2():
    # RTX 5080 MLP, eager: aten::clamp_min (ReLU) re-reads what the GEMM before it just wrote.
    path = real_trace("kineto-rtx5080-mlp-train-eager.json.gz")
    events = raw_events(path)
    ops = {e["args"]["External id"]: e for e in events
           if e.get("cat") == "cpu_op" and e["name"] == "aten::clamp_min"}
    t = sum(e["dur"] for e in events if e.get("cat") == "kernel" and e["args"].get("External id") in ops)
    # fp32 in, fp32 out: Q = 2 x 4 bytes per element of the input.
    q = [2 * 4 * e["args"]["Input Dims"][0][0] * e["args"]["Input Dims"][0][1] for e in ops.values()]
    want = sum(q) / (t * 1e-6 * 960e9) * 100  # RTX 5080: 960 GB/s (hardware.json)

    trace = load(path)
    s = efficiency_summary(trace, classify_gpu(trace))
    assert s.device.l2_mb == 64 and "Blackwell" in s.device.l2_source
    (op,) = [o for o in s.ops_above_peak if o.name == "aten::clamp_min"]
    assert op.calls == len(ops) and op.mue_pct == pytest.approx(want) and want > 100
    assert op.bytes_per_call == pytest.approx(sorted(q)[len(q) // 2])
    assert "fits in the 64 MiB L2" in op.reason
    cls = s.classes["elementwise"]
    assert cls.mue_pct > 100 and "64 MiB L2" in cls.reason
    assert cls.above_peak.count == len(ops)
    assert all(c.reason is None for c in s.classes.values() if c.mue_pct is not None and c.mue_pct <= 100)


def test_cache_reason_without_l2_or_when_a_call_outgrows_it():
    from profkit.analysis.cost.efficiency import cache_reason
    assert "not in the hardware table" in cache_reason(150, 1e6, None)
    assert "more than the 6 MiB L2" in cache_reason(150, 100 * 2 ** 20, 6)


@pytest.mark.shared
def test_classes_with_unknown_flops_keep_their_time_share():
    # Kineto recorded no CPU ops here: every class is there, FLOPs unknown, with its share of GPU time.
    path = real_trace("kineto-h100-transformer-train-tiny.json.gz")
    events = raw_events(path)
    gpu_us = sum(e["dur"] for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"))
    trace = load(path)
    classes = classify_gpu(trace)
    s = efficiency_summary(trace, classes)
    time_by_class = trace.gpu.assign(c=classes.to_numpy()).groupby("c", observed=True)["dur"].sum()
    assert set(s.classes) == set(time_by_class.index)
    for name, c in s.classes.items():
        assert c.flops is None and c.reason.startswith("FLOPs unknown")
        assert c.pct_time == pytest.approx(100 * time_by_class[name] / gpu_us)

