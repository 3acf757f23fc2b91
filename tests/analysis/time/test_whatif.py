"""What-if model: predictions checked against measured CUDA-graph runs, recomputed
from the raw JSON (GPU-side annotations, launch correlation) without profkit's tables."""

import gzip
import json
import re

import numpy as np
import pytest

from profkit.analysis.tables import Tables
from profkit.analysis.time import whatif as W
from profkit.trace import load
from tests.helpers.cli import capture
from tests.helpers.models import tiny_gpt2_config
from tests.helpers.traces import real_trace

EAGER = "kineto-rtx5080-mlp-train-eager.json.gz"
EAGER_B = "kineto-rtx5080-mlp-train-eager-b.json.gz"
MANUAL = "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz"
CALLABLES = "kineto-rtx5080-mlp-train-cudagraph-graphed-callables.json.gz"
EVENT_SYNC = "hta/critical_path/cuda_event_sync/event_sync_trace.json.gz"
DLRM = "kineto-v100x8-dlrm-train-rank0.json.gz"
GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")


def raw(name):
    with gzip.open(real_trace(name)) as f:
        return json.load(f)["traceEvents"]


def gpu_annotation_period(events, name):
    """Median start-to-start time of a GPU-side user annotation (one per step)."""
    ts = sorted(e["ts"] for e in events if e.get("cat") == "gpu_user_annotation" and e.get("name") == name)
    return float(np.median(np.diff(ts)))


@pytest.fixture(scope="module")
def eager():
    return W.cudagraph_whatif(Tables(load(real_trace(EAGER))))


def test_mlp_eager_predicts_the_manual_graph_run_within_10pct(eager):
    # Measured graph period, independently: the GPU-side "## graph.replay ##" annotation, start to start.
    graph = gpu_annotation_period(raw(MANUAL), "## graph.replay ##")
    assert graph == pytest.approx(902, abs=5)
    assert abs(eager.step_us - graph) / graph < 0.10
    # The eager period the same way: "## forward_pass ##" opens every step on the GPU.
    assert eager.measured_step_us == pytest.approx(gpu_annotation_period(raw(EAGER), "## forward_pass ##"),
                                                   rel=0.01)
    assert eager.measured_step_us == pytest.approx(2430, abs=10)
    assert eager.speedup == pytest.approx(eager.measured_step_us / eager.step_us)
    assert eager.low <= eager.speedup <= eager.high
    assert eager.best_step_us <= eager.step_us <= eager.worst_step_us
    assert not eager.blockers and not eager.validated
    assert eager.basis == "steps" and len(eager.steps) == 7


def test_validate_against_the_graph_run(eager):
    v = W.validate(eager, Tables(load(real_trace(MANUAL))))
    assert v.within_tolerance
    assert v.measured_us == pytest.approx(gpu_annotation_period(raw(MANUAL), "## graph.replay ##"), rel=0.01)
    assert v.error_pct == pytest.approx(100 * (eager.step_us - v.measured_us) / v.measured_us)


def test_other_mlp_traces_predict_the_same_graph_run():
    """Independent inputs of the same MLP on the same machine: the second script's eager run, and
    the make_graphed_callables run (forward/backward graphed, loss and optimizer eager)."""
    graph = gpu_annotation_period(raw(MANUAL), "## graph.replay ##")
    for name in (EAGER_B, CALLABLES):
        w = W.cudagraph_whatif(Tables(load(real_trace(name))))
        assert abs(w.step_us - graph) / graph < 0.10, name
    # A run already captured whole predicts itself: nothing is left to remove.
    own = W.cudagraph_whatif(Tables(load(real_trace(MANUAL))))
    assert own.removed_gap_us == 0 and own.speedup == pytest.approx(1, abs=0.01)
    assert own.already_graphed_pct > 85


def _hand_step(events, k):
    """Work, host-bound gap total and launches of ProfilerStep#k's period, from the raw events."""
    steps = {int(e["name"].split("#")[1]): e for e in events
             if e.get("ph") == "X" and re.match(r"^ProfilerStep#\d+$", e.get("name", ""))
             and e.get("cat") != "gpu_user_annotation"}
    launch = {e["args"]["correlation"]: e for e in events
              if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    gpu = sorted((e for e in events if e.get("cat") in GPU_CATS), key=lambda e: e["ts"])

    def step_of(e):
        lt = launch[e["args"]["correlation"]]["ts"]
        return next((n for n, s in steps.items() if s["ts"] <= lt <= s["ts"] + s["dur"]), None)
    first = {}
    for e in gpu:
        first.setdefault(step_of(e), e["ts"])
    lo, hi = first[k], first[k + 1]
    work = removed = launch_cpu = 0.0
    launches = 0
    prev_end = None
    for e in gpu:
        if not lo <= e["ts"] < hi:
            continue
        work += e["dur"]  # one stream, no overlap: the sum is the union
        launches += 1
        launch_cpu += launch[e["args"]["correlation"]]["dur"]
        if prev_end is not None and e["ts"] > prev_end and launch[e["args"]["correlation"]]["ts"] > prev_end:
            removed += e["ts"] - prev_end
        prev_end = e["ts"] + e["dur"]
    # The gap into the next step's first activity belongs to this step too.
    nxt = next(e for e in gpu if e["ts"] == hi)
    if launch[nxt["args"]["correlation"]]["ts"] > prev_end:
        removed += hi - prev_end
    return hi - lo, work, removed, launches, launch_cpu


def test_step_terms_match_a_hand_count(eager):
    events = raw(EAGER)
    for p in eager.steps[:-1]:
        period, work, removed, launches, launch_cpu = _hand_step(events, p.step)
        assert p.measured_us == pytest.approx(period, abs=0.01)
        assert p.work_us == pytest.approx(work, abs=0.01)
        assert p.removed_gap_us == pytest.approx(removed, abs=0.01)
        assert p.launches == launches == 36
        assert p.launch_cpu_us == pytest.approx(launch_cpu, abs=0.01)
        # measured = work + removed + kept, exactly; predicted drops the removed gaps.
        assert p.work_us + p.removed_gap_us + p.kept_gap_us == pytest.approx(p.measured_us, abs=0.01)
        assert p.predicted_us == pytest.approx(min(p.measured_us,
                                                   p.work_us + p.kept_gap_us + p.segments * eager.graph_launch_us))
    assert not eager.steps[-1].full_period
    # d: the median gap before work that was already launched (single stream, no syncs in this trace).
    launch = {e["args"]["correlation"]: e["ts"] for e in events
              if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    gpu = sorted((e for e in events if e.get("cat") in GPU_CATS), key=lambda e: e["ts"])
    step0 = min(x["ts"] for x in events if x.get("name", "").startswith("ProfilerStep#")
                and x.get("cat") != "gpu_user_annotation")
    first = min(e["ts"] for e in gpu if launch[e["args"]["correlation"]] >= step0)
    queued = [b["ts"] - a["ts"] - a["dur"] for a, b in zip(gpu, gpu[1:]) if b["ts"] >= first
              and b["ts"] > a["ts"] + a["dur"] and launch[b["args"]["correlation"]] <= a["ts"] + a["dur"]]
    assert len(queued) == 97
    assert eager.graph_launch_us == pytest.approx(float(np.median(queued)), abs=1e-3)


def syncs_in_first_step(name):
    """Sync runtime calls inside the trace's first ProfilerStep, from the raw events."""
    events = raw(name)
    step = next(e for e in events if e.get("name", "").startswith("ProfilerStep#") and e.get("ph") == "X")
    return [e for e in events if e.get("cat") == "cuda_runtime" and "Synchronize" in e["name"]
            and step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]


def test_host_syncs_inside_the_step_are_blockers():
    w = W.cudagraph_whatif(Tables(load(real_trace(EVENT_SYNC))))
    syncs = syncs_in_first_step(EVENT_SYNC)
    by_what = {b.what: b for b in w.blockers}
    assert sum(b.count for b in w.blockers if "Synchronize" in b.what) == len(syncs) == 3
    # `if tensor:` (aten::is_nonzero) reads the value back: a stream sync and a pageable DtoH copy.
    item = by_what["cudaStreamSynchronize"]
    assert item.kind == "item" and item.ops == (("aten::is_nonzero", 1),)
    assert by_what["Memcpy DtoH (Device -> Pageable)"].ops == (("aten::is_nonzero", 1),)
    assert by_what["cudaDeviceSynchronize"].kind == "host_sync"
    assert w.steps[0].segments == 4
    assert any("split a step" in a for a in w.assumptions)


def test_dlrm_blockers_name_their_ops():
    w = W.cudagraph_whatif(Tables(load(real_trace(DLRM))))
    inside = syncs_in_first_step(DLRM)
    assert sum(b.count for b in w.blockers if "Synchronize" in b.what) == len(inside) == 10
    cpu = next(b for b in w.blockers if b.kind == "to_copy" and b.what == "cudaStreamSynchronize")
    assert cpu.ops == (("aten::to", 6),)
    assert w.basis == "steps" and w.steps[0].full_period is False


def test_trace_without_steps_is_one_window():
    w = W.cudagraph_whatif(Tables(load(real_trace("kineto-b200-vllm-tp8-rank0-eager.json.gz"))))
    assert w.basis == "window" and len(w.steps) == 1
    assert any("no profiler steps" in a for a in w.assumptions)
    assert w.low <= w.speedup <= w.high


def test_no_gpu_work_gives_no_cudagraph_prediction():
    assert W.cudagraph_whatif(Tables(load(real_trace("kineto-a100-edgecase-no-kernel-events.json.gz")))) is None


def breakdown(window, overhead, classified):
    """A CpuBreakdown of the result model with these numbers."""
    from profkit.analysis.result import CpuBreakdown
    return CpuBreakdown(window_us=window, threads=1, classified_us=classified, compiled_region_self_us=0.0,
                        framework_overhead_us=overhead,
                        framework_overhead_pct=100 * overhead / window if window else 0.0)


def test_compiled_whatif_from_cpu_breakdown():
    b = breakdown(1000.0, 400.0, 600.0)
    c = W.compiled_whatif(b)
    assert c.overhead_pct == pytest.approx(40) and c.step_us == 600 and c.speedup == pytest.approx(1000 / 600)
    assert c.measured_speedup is None
    c = W.compiled_whatif(b, 800.0)
    assert c.compiled_window_us == 800 and c.measured_speedup == pytest.approx(1.25)
    assert W.compiled_whatif(breakdown(0.0, 0.0, 0.0)) is None
    assert W.compiled_whatif(breakdown(9.0, 9.0, 0.0)) is None


def test_a_compiled_cpu_run_gets_no_compiled_prediction():
    cpu_only = load(real_trace("hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz"))
    b = breakdown(1000.0, 400.0, 600.0)
    assert W.whatif(Tables(cpu_only), breakdown=b, mode="eager").compiled is not None
    for mode in ("compiled", "compiled+cudagraph"):
        w = W.whatif(Tables(cpu_only), breakdown=b, mode=mode)
        assert w.cudagraph is None and w.compiled is None
        assert w.unavailable.startswith(f"the run is compiled already (detected mode: {mode})")
    # An eager run without classified op work says so (not "no CPU ops").
    w = W.whatif(Tables(cpu_only), breakdown=breakdown(0.0, 0.0, 0.0), mode="eager")
    assert w.compiled is None and w.unavailable.startswith("no classified CPU op work in the window")


def test_no_prediction_is_slower_than_measured():
    w = W.cudagraph_whatif(Tables(load(real_trace("hta/trace_compare/base/base.json.gz"))))
    assert all(p.predicted_us <= p.worst_us <= p.measured_us for p in w.steps)
    assert 1 <= w.low <= w.speedup <= w.high
    # A GPU run whose kernels are missing is not a CPU run: no compiled what-if either.
    edge = load(real_trace("kineto-a100-edgecase-no-kernel-events.json.gz"))
    w = W.whatif(Tables(edge), breakdown=breakdown(5.0, 1.0, 4.0))
    assert (w.cudagraph, w.compiled) == (None, None) and "records a GPU run but no GPU activity" in w.unavailable


@pytest.mark.parametrize("name", ["kineto-fmt-libkineto-test-cudasync-beforefix.json.gz",
                                  "kineto-fmt-libkineto-test-cudasync-afterfix.json.gz"])
def test_cuda_sync_events_are_blockers_when_no_sync_call_is_recorded(name):
    """The libkineto fixture records the host's event sync only as a cuda_sync event (External id 300,
    op_evt_sync); the 'Stream Wait Event' is device-side and capturable."""
    events = raw(name)
    host = [e for e in events if e.get("cat") == "cuda_sync" and e["name"] in W.HOST_SYNC_EVENTS]
    op = next(e for e in events if e.get("cat") == "cpu_op"
              and e["args"]["External id"] == host[0]["args"]["External id"])
    (b,) = W.cudagraph_whatif(Tables(load(real_trace(name)))).blockers
    assert (b.kind, b.what, b.ops, b.count) == ("host_sync", "Event Sync", ((op["name"], 1),), len(host))


def test_analyze_prints_and_writes_the_prediction():
    import json as js
    import subprocess
    import sys
    eager, graph = str(real_trace(EAGER)), str(real_trace(MANUAL))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "profkit", "analyze", *args], capture_output=True, text=True,
                              env={**__import__("os").environ, "COLUMNS": "200"})
    out = cli(eager, "--json", "--whatif-against", graph)
    assert out.returncode == 0, out.stderr
    cg = js.loads(out.stdout)["whatif"]["cudagraph"]
    measured = gpu_annotation_period(raw(MANUAL), "## graph.replay ##")
    assert abs(cg["step_us"] - measured) / measured < 0.10
    assert cg["validation"]["within_tolerance"] and cg["blockers"] == []
    assert {"step_us", "speedup", "low", "high", "blockers", "assumptions", "measured_step_us"} <= set(cg)
    text = cli(eager).stdout
    line = next(s for s in text.splitlines() if s.startswith("what if CUDA graphs"))
    assert f"-> {cg['step_us']:.1f} µs predicted" in line and f"x{cg['speedup']:.2f}" in line
    assert f"(x{cg['low']:.2f}-x{cg['high']:.2f})" in line and "unvalidated" in line
    assert "assumes: kernels and copies keep their eager durations" in text
    bad = cli(str(real_trace(EAGER)).rsplit("/", 1)[0], "--whatif-against", graph)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_report_draws_measured_and_predicted_steps_side_by_side():
    from profkit.report.render import build_context, render_html
    from profkit.report.runs import load_runs

    runs = load_runs([real_trace(MANUAL), real_trace(EAGER)])
    assert [r.mode for r in runs] == ["eager", "cudagraph"]
    ctx = build_context(runs, ["a", "b"])
    cg = ctx["whatif"][0].cudagraph
    graph = gpu_annotation_period(raw(MANUAL), "## graph.replay ##")
    assert cg.validation.measured_us == pytest.approx(graph, rel=0.01)  # paired with the graph run
    fig = __import__("orjson").loads(str(ctx["figures_json"]))["whatif-0"]
    bars = {(d["name"], y): x for d in fig["data"] if d["type"] == "bar" for y, x in zip(d["y"], d["x"])}
    ms = {k: getattr(cg, k) / 1000 for k in ("work_us", "removed_gap_us", "kept_gap_us", "launch_gpu_us")}
    assert bars[("GPU work", "measured (this run)")] == bars[("GPU work", "predicted (CUDA graphs)")] == ms["work_us"]
    assert bars[("host-bound gaps", "measured (this run)")] == ms["removed_gap_us"]
    assert bars[("host-bound gaps", "predicted (CUDA graphs)")] == 0
    assert bars[("graph launches", "predicted (CUDA graphs)")] == ms["launch_gpu_us"]
    assert bars[("measured graph step", "measured (CUDA-graph run)")] == pytest.approx(graph / 1000, rel=0.01)
    (mark,) = [d for d in fig["data"] if d["type"] == "scatter"]
    assert mark["x"][:2] == [cg.measured_step_us / 1000, cg.step_us / 1000]
    assert mark["error_x"]["array"][1] == pytest.approx((cg.worst_step_us - cg.step_us) / 1000)
    html = render_html(runs, ["a", "b"])
    assert f"×{cg.speedup:.2f}" in html and "within 10%" in html
    assert "already replays 90% of" in html  # the graph run is not offered a prediction it already is


def test_against_a_run_without_steps_warns_and_stays_unvalidated():
    from profkit.analysis.options import AnalysisOptions
    from profkit.analysis.analyze import summarize
    cpu_only = real_trace("hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz")
    s = summarize(load(real_trace("kineto-h100-transformer-train-tiny.json.gz")),
                  options=AnalysisOptions(whatif_against=cpu_only))
    assert s.whatif.cudagraph.validation is None
    assert any("stays unvalidated" in w for w in s.warnings)


@pytest.mark.slow
def test_cpu_capture_compiled_whatif_against_the_compiled_run(tmp_path, calibrated):
    """profkit's own CPU captures: eager's framework overhead is what compilation can remove;
    the report pairs it with the compiled run of the same capture."""
    pytest.importorskip("torch")
    from profkit.analysis.classes.classify import cpu_breakdown
    from profkit.report.runs import load_runs

    ckpt = tmp_path / "tiny"
    ckpt.mkdir()
    tiny_gpt2_config().to_json_file(ckpt / "config.json")
    out = tmp_path / "out"
    capture("--model", str(ckpt), "--mode", "eager,compiled", "--device", "cpu", "--prompt-len", "8",
            "--new-tokens", "4", "--warmup", "1", "--steps", "2", "--out", str(out))
    runs = {r.mode: r for r in load_runs([out])}
    comp = runs["eager"].summary.whatif.compiled
    eager_b, compiled_b = cpu_breakdown(runs["eager"].trace), cpu_breakdown(runs["compiled"].trace)
    assert comp.overhead_us == pytest.approx(eager_b["framework_overhead_us"])
    assert comp.overhead_pct == pytest.approx(eager_b["framework_overhead_pct"])
    assert comp.step_us == pytest.approx(eager_b["window_us"] - eager_b["framework_overhead_us"])
    assert comp.compiled_window_us == pytest.approx(compiled_b["window_us"])
    assert comp.measured_speedup == pytest.approx(eager_b["window_us"] / compiled_b["window_us"])
    assert runs["compiled"].summary.whatif.compiled is None  # already compiled: nothing to predict
    from profkit.report.render import render_html
    html = render_html(list(runs.values()), ["a", "b"])
    assert "the part compilation removes" in html and f"×{comp.measured_speedup:.2f}" in html


def test_a_finding_cites_the_prediction():
    from profkit.analysis.analyze import summarize
    s = summarize(load(real_trace(EAGER)))
    cg = s.whatif.cudagraph
    (f,) = [f for f in s.findings if f.rule == "cudagraph_whatif"]
    n = f.evidence.numbers
    assert n["predicted_step_us"] == round(cg.step_us, 1) and n["speedup"] == round(cg.speedup, 2)
    assert n["saved_pct"] == round(100 * (1 - cg.step_us / cg.measured_step_us), 1) and n["blockers"] == 0
    assert f"×{cg.speedup:.2f}" in f.text
    s = summarize(load(real_trace(DLRM)))
    (f,) = [f for f in s.findings if f.rule == "cudagraph_whatif"]
    assert f.evidence.numbers["blockers"] == sum(b.count for b in s.whatif.cudagraph.blockers)
    assert f.action.startswith("Remove the blockers first")
    assert {"aten::to", "aten::index"} <= {i.name for i in f.evidence.items}
    # Already graphed: no advice to graph it.
    s = summarize(load(real_trace(MANUAL)))
    assert not [f for f in s.findings if f.rule == "cudagraph_whatif"]
