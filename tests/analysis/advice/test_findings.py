"""Findings: every rule fires on a real trace and stays silent on another; evidence recomputed from plain JSON."""

import gzip
import json
import re
import statistics

import msgspec
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import profkit
from profkit.analysis.advice.engine import PRECONDITIONS, facts, quality
from profkit.analysis.advice.findings import RULES
from profkit.analysis.tables import EnclosingOps, Tables
from profkit.analysis.result import to_builtins
from profkit.analysis.analyze import summarize
from profkit.runfiles.sidecar import capture_of, read_sidecar
from tests.helpers.traces import all_real_traces, real_trace, summary_json

EAGER = "kineto-rtx5080-mlp-train-eager.json.gz"
GRAPHED = "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz"
OWL = "kineto-h100-owlv2-large-hf-eager-infer.json.gz"
BERT = "kineto-h100-bert-small-hf-eager-infer.json.gz"
QWEN = "kineto-h100-qwen1.5-0.5b-hf-eager-infer.json.gz"
TIMESFORMER = "kineto-h100-timesformer-base-hf-eager-infer.json.gz"
ALEXNET = "hta/critical_path/alexnet/benchmark_result_2869224_1695835535_trace.json.gz"
NS = "hta/ns_resolution_trace/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
EVENT_SYNC = "hta/critical_path/cuda_event_sync/event_sync_trace.json.gz"
VLLM = "kineto-b200-vllm-tp8-rank0-eager.json.gz"  # compiled (Triton) and launch-bound
DLRM = "kineto-v100x8-dlrm-train-rank0.json.gz"  # data-parallel training: 43% of the window exposed communication
NCCL = "hta/nccl_parser_config/nccl_data.json.gz"

_cache = {}


def rules_of(path, sidecar=None):
    key = (str(path), msgspec.json.encode(sidecar))
    if key not in _cache:
        _cache[key] = summary_json(profkit.load(path), sidecar=sidecar)
    return {f["rule"]: f for f in _cache[key]["findings"]}


def raw_events(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]


@pytest.fixture(scope="module")
def compile_trace(tmp_path_factory):
    """A CPU trace whose profiled window holds the first (compiling) call of torch.compile."""
    path = tmp_path_factory.mktemp("compile") / "compile_in_window.json"

    def fn(x):
        return torch.nn.functional.gelu(x @ x).sum(dim=-1)

    compiled = torch.compile(fn, backend="eager")
    x = torch.randn(64, 64)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(3):
            compiled(x)
            prof.step()
    prof.export_chrome_trace(str(path))
    torch.compiler.reset()
    return path


# rule -> (a trace where it fires, a trace where it must not, why not)
CASES = {
    "launch_bound": (EAGER, GRAPHED, "graphed run: precondition not_graphed"),
    "sync_gaps": (OWL, EAGER, "no sync gaps"),
    "host_copies": (ALEXNET, EAGER, "no host copies"),
    "memory_bound_fusion": (TIMESFORMER, VLLM, "compiled run: precondition not_compiled"),
    "small_gemm_batching": (BERT, EAGER, "GEMMs at 85% of the limit"),
    "large_gap": (ALEXNET, EAGER, "gaps are many and small"),
    "gpu_bound": (NS, EAGER, "GPU idle 66%"),
    "exposed_communication": (DLRM, NCCL, "exposed communication 6% of the window"),
    "cuda_graphs": (GRAPHED, EAGER, "no graph launches"),
    "cudagraph_whatif": (EAGER, GRAPHED, "graphed run: precondition not_graphed"),
    "unclassified": (EVENT_SYNC, EAGER, "every kernel classified"),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_one_real_trace_and_not_another(rule):
    fires, silent, _ = CASES[rule]
    found = rules_of(real_trace(fires))
    assert rule in found
    f = found[rule]
    assert f["text"] and f["action"] and f["evidence"]["numbers"] and f["applies_when"]
    assert rule not in rules_of(real_trace(silent))


def test_every_rule_has_a_case_and_a_documented_entry():
    doc = open("docs/findings.md", encoding="utf-8").read()
    ids = {r.id for r in RULES}
    assert ids == set(CASES) | {"kv_cache_growth", "compile_in_window"}
    for r in RULES:
        assert f"`{r.id}`" in doc
        for k in r.thresholds:
            assert k in doc
        for need in r.needs:
            assert need in PRECONDITIONS


def test_launch_bound_evidence_from_plain_json():
    path = real_trace(EAGER)
    f = rules_of(path)["launch_bound"]
    ev = raw_events(path)
    steps = [e for e in ev if e["name"].startswith("ProfilerStep#")]
    launches = [e for e in ev if e.get("cat") in ("cuda_runtime", "cuda_driver") and "LaunchKernel" in e["name"]]
    n = f["evidence"]["numbers"]
    assert n["launches"] == len(launches) and n["launches_per_step"] == round(len(launches) / len(steps))
    # The largest host-bound gaps are listed with their neighbours, longest first.
    gaps = [i for i in f["evidence"]["items"] if i["kind"] == "gap"]
    assert len(gaps) == 3 and gaps[0]["time_us"] >= gaps[1]["time_us"] >= gaps[2]["time_us"]
    assert "after" in gaps[0]["detail"] and gaps[0]["start_us"] > 0
    assert "CUDA graph" in f["action"] and "reduce-overhead" in f["action"]


def test_compiled_gpu_run_is_not_told_to_compile():
    # vLLM (Triton kernels): launch-bound, but the advice is the compile mode, never "torch.compile(...)".
    found = rules_of(real_trace(VLLM))
    for f in found.values():
        assert "torch.compile(" not in f["action"]
    assert "memory_bound_fusion" not in found


def test_sync_finding_names_the_op_from_the_trace():
    path = real_trace(OWL)
    f = rules_of(path)["sync_gaps"]
    op = next(i for i in f["evidence"]["items"] if i["kind"] == "op")
    assert op["name"] == "aten::copy_" and ".cpu()" in f["text"]
    # Recount by hand: blocking runtime calls inside an aten::copy_ op overlapping a sync gap are at most
    # the blocking calls inside any aten::copy_ (plain JSON, interval containment).
    ev = raw_events(path)
    blocking = [e for e in ev if e.get("cat") == "cuda_runtime"
                and (e["name"] in ("cudaMemcpy", "cudaMemcpyAsync") or "Synchronize" in e["name"])]
    copies = [e for e in ev if e.get("cat") == "cpu_op" and e["name"] == "aten::copy_"]
    inside = [b for b in blocking if b["name"] != "cudaMemcpyAsync"
              and any(c["ts"] <= b["ts"] and b["ts"] + b["dur"] <= c["ts"] + c["dur"] for c in copies)]
    assert 0 < op["count"] <= len(inside)


def test_host_copy_evidence_from_plain_json():
    path = real_trace(ALEXNET)
    f = rules_of(path)["host_copies"]
    ev = raw_events(path)
    mem = [e for e in ev if e.get("cat") == "gpu_memcpy" and e["name"].startswith(("Memcpy HtoD", "Memcpy DtoH"))]
    assert f["evidence"]["numbers"]["copies"] == len(mem)
    assert f["evidence"]["numbers"]["copy_us"] == pytest.approx(sum(e["dur"] for e in mem), abs=0.1)
    assert "pin" in f["action"].lower() and "Pageable" in f["evidence"]["items"][0]["name"]


def test_small_gemm_median_rows_by_hand():
    path = real_trace(BERT)
    f = rules_of(path)["small_gemm_batching"]
    ev = raw_events(path)
    rows = []
    for e in ev:
        if e.get("cat") == "cpu_op" and e["name"] in ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear",
                                                       "aten::matmul", "aten::baddbmm"):
            dims = [d for d in e["args"]["Input Dims"] if len(d) >= 2]
            m = 1
            for x in dims[0][:-1]:
                m *= x
            rows.append((m, e["dur"]))
    rows.sort()
    half, acc = sum(d for _, d in rows) / 2, 0.0
    for m, d in rows:
        acc += d
        if acc >= half:
            break
    assert f["evidence"]["numbers"]["median_rows_m"] == m == 141


def test_no_shape_advice_without_shapes():
    # AlexNet's trace has no recorded shapes: no GEMM-size finding whatever its efficiency.
    found = rules_of(real_trace(ALEXNET))
    assert "small_gemm_batching" not in found and "kv_cache_growth" not in found


def test_compile_in_window_fires_on_a_profiled_first_call(compile_trace):
    found = rules_of(compile_trace)
    f = found["compile_in_window"]
    assert "before starting the profiler" in f["action"]
    # Recount: union of the compile regions inside the trace (they nest) from plain JSON.
    ev = raw_events(compile_trace)
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") == "cpu_op" and (
        e["name"].endswith("(dynamo_timed)")
        or e["name"] in ("dynamo", "entire_frame_compile", "compile_attempt_0", "backend_compile")))
    total, end = 0.0, float("-inf")
    for s, e in spans:
        if e > end:
            total += e - max(s, end)
            end = e
    assert f["evidence"]["numbers"]["compile_us"] == pytest.approx(total, rel=1e-6, abs=0.5)


def test_compile_in_window_silent_when_compiled_before_profiling():
    found = rules_of(real_trace(VLLM))
    assert "compile_in_window" not in found


def test_noise_larger_than_the_margin_suppresses_the_finding():
    f = facts(Tables(profkit.load(real_trace(EAGER))), summarize(profkit.load(real_trace(EAGER))))
    # Robust CV of the step durations (1.4826 x MAD / median) recomputed from the ProfilerStep events.
    durs = [e["dur"] for e in raw_events(real_trace(EAGER)) if e["name"].startswith("ProfilerStep#")]
    mid = statistics.median(durs)
    mad = statistics.median(abs(d - mid) for d in durs)
    assert f.noise_pct == pytest.approx(100 * 1.4826 * mad / mid, rel=1e-9)
    assert quality(65.6, 20.0, f)[0]       # the launch-bound effect clears its threshold by 228%
    f.noise_pct = 50.0
    assert not quality(25.0, 20.0, f)[0]   # 25% margin < 50% noise: no finding
    # A sidecar whose timed runs were noisier than the steps raises the noise used.
    noisy = capture_of({"timing": {"noise": {"cv_pct": 99.0}}})
    g = facts(Tables(profkit.load(real_trace(EAGER))), summarize(profkit.load(real_trace(EAGER))), noisy)
    assert g.noise_pct == 99.0 and g.noise_source == "timed runs"


def test_cpu_run_gets_no_gpu_advice(compile_trace, cpu_capture):
    side = read_sidecar(cpu_capture)
    found = [*rules_of(compile_trace).values(), *rules_of(cpu_capture, side).values()]
    # small_gemm_batching fires on both devices; whether it passes the noise gate on the tiny
    # capture depends on that run's noise, so its CPU wording is checked from the rule itself.
    trace = profkit.load(cpu_capture)
    rule = next(r for r in RULES if r.id == "small_gemm_batching")
    thresholds = {**rule.thresholds, "gemm_pct": 0.0}  # the GEMM share of a tiny model's run varies too
    _, _, text, action, evidence = rule.check(facts(Tables(trace), summarize(trace, sidecar=side), side), thresholds)
    found.append({"rule": rule.id, "text": text, "action": action, "evidence": to_builtins(evidence)})
    for f in found:
        assert not {"gpu", "not_graphed"} & set(_needs(f["rule"]))
        for word in ("CUDA", "pin", "non_blocking", "GPU"):
            assert word not in f["action"]
            assert not re.search(rf"\b{word}\b", f["text"]), f["text"]
        assert all(i["kind"] != "kernel" for i in f["evidence"]["items"])  # CPU ops, not kernels


def _needs(rule_id):
    return next(r.needs for r in RULES if r.id == rule_id)


def test_innermost_op_around_a_call_matches_a_scan_of_every_op():
    """The blocking-op lookup (binary search + parent chain) names what a scan of all ops names."""
    import numpy as np
    import pandas as pd

    from profkit.trace.model import nesting

    rng = np.random.default_rng(0)
    rows = []
    for tid in (1, 2, 3):
        def nest(lo, hi, depth):  # well-nested ops, some children exactly as long as their parent
            t = lo
            while t < hi and depth < 4:
                start = float(rng.integers(t, hi))
                stop = float(rng.integers(start, hi + 1))
                if rng.random() < 0.2:
                    start, stop = float(t), float(hi)
                rows.append((1, tid, start, stop, f"op{len(rows) % 7}"))
                nest(start, stop, depth + 1)
                t = stop + 1
        nest(0, 200, 0)
    ops = pd.DataFrame(rows, columns=["pid", "tid", "ts", "end", "name"]).sort_values(
        ["pid", "tid", "ts", "end"], ascending=[True, True, True, False], kind="stable", ignore_index=True)
    ops["parent"] = nesting(ops["pid"].to_numpy(), ops["tid"].to_numpy(), ops["end"].to_numpy())[1]
    around = EnclosingOps(ops).shortest_around
    o_ts, o_end, names = ops["ts"].to_numpy(), ops["end"].to_numpy(), ops["name"].to_numpy()
    for _ in range(2000):
        s = float(rng.integers(0, 200))
        e = s + float(rng.integers(0, 5))
        inside = np.flatnonzero((o_ts <= s) & (o_end >= e))
        want = names[inside[np.argmin((o_end - o_ts)[inside])]] if len(inside) else None
        assert around(s, e) == want


def test_exposed_communication_evidence_from_the_summary_it_prints():
    s = summary_json(profkit.load(real_trace(DLRM)))
    f = {x["rule"]: x for x in s["findings"]}["exposed_communication"]
    comm, span = s["communication"], s["window_us"]["span"]
    assert f["evidence"]["numbers"]["exposed_pct_of_window"] == pytest.approx(100 * comm["exposed_us"] / span, abs=0.05)
    assert f"{comm['exposed_us'] / 1000:.2f} ms" in f["text"] and "overlap" in f["action"].lower()
    # No collective metadata in this trace: the evidence names the top communication kernels.
    assert not comm["collectives"]
    assert [i["name"] for i in f["evidence"]["items"]] == [k["name"] for k in s["kernels"]
                                                           if k["class"] == "communication"][:3]


def test_gpu_bound_stays_silent_when_the_busy_time_is_exposed_communication():
    """Busy 95% of a 100 ms window, 60 ms of it collectives with nothing beside them: not 'faster kernels'."""
    from types import SimpleNamespace

    from profkit.analysis.advice import time_checks as T

    t = next(r.thresholds for r in RULES if r.id == "gpu_bound")

    def facts_with(exposed_us):
        comm = SimpleNamespace(exposed_us=exposed_us, time_us=70_000.0)
        return SimpleNamespace(summary=SimpleNamespace(temporal=SimpleNamespace(busy_pct=95.0), communication=comm,
                                                       window_us=SimpleNamespace(span=100_000.0), kernels=[]),
                               gpu=True)

    assert T.gpu_bound(facts_with(60_000.0), t) is None
    assert T.gpu_bound(facts_with(10_000.0), t) is not None


def test_cuda_graphs_says_nothing_to_do_only_when_the_kernels_replay_from_graphs():
    """A trace with a few graph launches among thousands of single launches is not 'amortised'."""
    partial = rules_of(real_trace("hta/negative_queue_length_values_check/rank0.json.gz"))["cuda_graphs"]
    n = partial["evidence"]["numbers"]
    ev = raw_events(real_trace("hta/negative_queue_length_values_check/rank0.json.gz"))
    alone = sum(1 for e in ev if e.get("cat") == "cuda_runtime" and "LaunchKernel" in e["name"])
    assert n["kernels_launched_alone"] == alone and n["graphed_kernels_pct"] < 5
    assert "still launched one by one" in partial["text"] and "Nothing to do" not in partial["action"]
    whole = rules_of(real_trace(GRAPHED))["cuda_graphs"]
    assert whole["evidence"]["numbers"]["graphed_kernels_pct"] >= 90 and whole["action"].startswith("Nothing to do")


# evidence number -> the summary figure it must equal (the same output prints both)
AGREES = {
    "idle_pct": lambda s: s["temporal"]["idle_pct"],
    "busy_pct": lambda s: s["temporal"]["busy_pct"],
    "host_bound_gaps": lambda s: s["gaps"]["by_cause"]["host_bound"]["count"],
    "host_bound_us": lambda s: s["gaps"]["by_cause"]["host_bound"]["total_us"],
    "sync_gaps": lambda s: s["gaps"]["by_cause"]["sync"]["count"],
    "sync_gap_us": lambda s: s["gaps"]["by_cause"]["sync"]["total_us"],
    "exposed_us": lambda s: s["communication"]["exposed_us"],
    "communication_us": lambda s: s["communication"]["time_us"],
    "graph_launches": lambda s: s["cuda_graphs"]["launches"],
    "graph_kernels": lambda s: s["cuda_graphs"]["kernels"],
    "kernels_launched_alone": lambda s: s["launches"]["count"],
}


@pytest.mark.parametrize("path", all_real_traces(), ids=lambda p: p.name[:50])
def test_findings_agree_with_the_numbers_the_same_output_prints(path):
    """No finding contradicts the summary beside it: each evidence number that restates a summary
    figure equals it (to its rounding), and no two findings disagree on the window's busy/idle."""
    s = summary_json(profkit.load(path))
    for f in s["findings"]:
        for key, value in f["evidence"]["numbers"].items():
            if key in AGREES and value is not None:
                assert value == pytest.approx(AGREES[key](s), abs=0.051), (f["rule"], key)
    rules = {f["rule"] for f in s["findings"]}
    assert not ({"gpu_bound", "launch_bound"} <= rules) and not ({"gpu_bound", "exposed_communication"} <= rules)
