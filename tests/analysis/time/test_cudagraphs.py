"""CUDA-graph attribution and execution-mode detection, checked against a plain
json parse of the real traces."""

import statistics
from collections import Counter

import pytest

import profkit
from profkit.analysis.time.cudagraphs import cuda_graph_summary, detect_mode
from profkit.analysis.result import Mode, SizeCount
from tests.helpers.traces import ev, real_trace, write_kineto, x_events

MANUAL = "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz"
CALLABLES = "kineto-rtx5080-mlp-train-cudagraph-graphed-callables.json.gz"
EAGER = "kineto-rtx5080-mlp-train-eager.json.gz"
TRACE_DIFF = "hta/trace_diff/test/test.json.gz"
NEG_QUEUE = "hta/negative_queue_length_values_check/rank0.json.gz"
GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
SINGLE_LAUNCHES = {"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx"}


def naive_graphs(path):
    """Graph launches and the GPU events sharing their correlation ids, with json."""
    xs = x_events(path)
    launches = [e for e in xs if e.get("name") == "cudaGraphLaunch"]
    corr = {e["args"]["correlation"] for e in launches}
    ops = Counter(e["args"]["correlation"] for e in xs
                  if e.get("cat") in GPU_CATS and e["args"].get("correlation") in corr)
    kernels = Counter(e["args"]["correlation"] for e in xs
                      if e.get("cat") == "kernel" and e["args"].get("correlation") in corr)
    singles = [e["dur"] for e in xs if e.get("name") in SINGLE_LAUNCHES]
    return {"launches": len(launches), "launch_us": sum(e["dur"] for e in launches),
            "ops": ops, "kernels": kernels, "single_median": statistics.median(singles)}


def sizes(counter):
    return [SizeCount(size=s, launches=n) for s, n in sorted(Counter(counter.values()).items())]


@pytest.mark.parametrize("name, launches, op_sizes", [
    (MANUAL, 7, [{"size": 36, "launches": 7}]),  # SOURCES-2.md: 36 GPU ops per replay
    (TRACE_DIFF, 12, [{"size": 339, "launches": 6}, {"size": 502, "launches": 6}]),
    (CALLABLES, 14, [{"size": 11, "launches": 7}, {"size": 18, "launches": 7}]),  # fwd and bwd graphs
])
def test_graph_summary_matches_plain_parse(name, launches, op_sizes):
    path = real_trace(name)
    got = cuda_graph_summary(profkit.load(path))
    want = naive_graphs(path)
    assert got.launches == got.launches_with_work == want["launches"] == launches
    assert got.gpu_ops_per_launch_sizes == sizes(want["ops"]) == [SizeCount(**d) for d in op_sizes]
    assert got.gpu_ops == sum(want["ops"].values())
    assert got.kernels == sum(want["kernels"].values())
    assert got.kernels_per_launch_sizes == sizes(want["kernels"])
    assert got.kernels_per_launch_mean == pytest.approx(got.kernels / launches)
    assert got.launch_cpu_us == pytest.approx(want["launch_us"])
    assert got.single_launch_median_us == pytest.approx(want["single_median"])
    assert got.est_saved_cpu_us == pytest.approx(got.kernels * want["single_median"] - want["launch_us"])
    assert got.distinct_graphs == len(op_sizes) and got.distinct_graphs_basis == "kernel sequence"


def test_manual_capture_numbers():
    got = cuda_graph_summary(profkit.load(real_trace(MANUAL)))
    assert (got.gpu_ops, got.kernels, got.gpu_ops_per_launch_mean) == (252, 238, 36.0)
    assert got.est_saved_cpu_us > 0


def test_eager_trace_has_no_graphs():
    got = cuda_graph_summary(profkit.load(real_trace(EAGER)))
    assert (got.launches, got.gpu_ops, got.kernels, got.distinct_graphs) == (0, 0, 0, 0)
    assert got.est_saved_cpu_us is None and got.kernels_per_launch_sizes == []


def test_graph_id_zero_means_no_graph():
    # libkineto writes "graph id": 0 on ordinary kernels.
    trace = profkit.load(real_trace("kineto-fmt-libkineto-test-cudasync-afterfix.json.gz"))
    assert (trace.gpu["graph_id"] == 0).all()
    assert cuda_graph_summary(trace).gpu_ops == 0
    assert detect_mode(trace).name == "eager"


def test_graph_ids_count_without_graph_launch_events(tmp_path):
    def kernel(ts, corr, graph):
        return ev("kernel", "k", ts, 1, pid=0, tid=7, correlation=corr, stream=7,
                  **{"graph id": graph, "graph node id": ts})
    trace = profkit.load(write_kineto(tmp_path / "g.json", [kernel(1, 5, 9), kernel(3, 5, 9), kernel(5, 6, 0)]))
    got = cuda_graph_summary(trace)
    assert (got.gpu_ops, got.graph_ids, got.distinct_graphs, got.distinct_graphs_basis) == \
        (2, [9], 1, "graph id")
    assert got.est_saved_cpu_us is None  # no per-kernel launch calls to take a median from
    assert detect_mode(trace).name == "cudagraph"


@pytest.mark.parametrize("name, mode, says", [
    (EAGER, "eager", "no Triton kernels, compile markers or CUDA graph launches"),
    ("kineto-legacy2021-resnet50-train-tbplugin.json.gz", "eager", "9564 kernels"),
    ("hta/amd_trace/mi250_minitoy_train_ROCm6_2_kineto.json.gz", "eager", "14 kernels"),
    (MANUAL, "cudagraph", "7 CUDA graph launches replaying 252 GPU ops"),
    (CALLABLES, "cudagraph", "14 CUDA graph launches replaying 203 GPU ops"),
    ("hta/triton_example/triton_example.json.gz", "compiled", "1 of 1 kernels (100.0%) are Triton"),
    ("kineto-b200-vllm-tp8-rank0-eager.json.gz", "compiled", "only 0.1% of kernels are Triton"),
    (NEG_QUEUE, "compiled+cudagraph", "81 of 6080 kernels (1.3%) are Triton"),
    (TRACE_DIFF, "compiled+cudagraph", "12 AOTAutograd CompiledFunction ops"),
    ("hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz", "eager", "0 kernels"),
])
def test_detect_mode(name, mode, says):
    got = detect_mode(profkit.load(real_trace(name)))
    assert got.name == mode
    assert any(says in line for line in got.evidence), got.evidence


def test_vllm_mix_is_reported_with_its_parts():
    got = detect_mode(profkit.load(real_trace("kineto-b200-vllm-tp8-rank0-eager.json.gz")))
    text = " | ".join(got.evidence)
    assert "1 'Torch-Compiled Region' markers" in text
    assert "2 '## Call CompiledFxGraph ##' annotations" in text
    assert "graph" not in got.name


def test_nothing_to_judge_is_unknown(tmp_path):
    path = write_kineto(tmp_path / "a.json", [ev("user_annotation", "## idle ##", 1, 2)])
    assert detect_mode(profkit.load(path)) == Mode(name="unknown", evidence=["no kernels and no CPU ops to judge from"])
