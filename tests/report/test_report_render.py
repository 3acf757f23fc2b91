"""Report rendering of synthetic runs whose summaries carry hand-set numbers."""

import re

import orjson
import pytest
from plotly.offline import get_plotlyjs

from profkit.analysis.result import (CountTime, EfficiencyClass, Reference, ReferenceClass, Roofline, RooflineDevice,
                                     RooflineParams, RooflinePhase)
from profkit.report import findings as FND
from profkit.report import metrics as M
from profkit.analysis.analyze import diff as diff_runs
from profkit.report.render import render_html, script_json
from profkit.report.runs import find_traces, order_runs
from profkit.runfiles.sidecar import capture_of
from tests.helpers.report import fixture_run
from tests.helpers.traces import real_trace

EVIL = "</script><script>window.__pwned=1</script>\"'&<img src=x onerror=\"window.__pwned=2\">"


def figures_of(html):
    m = re.search(r'<script type="application/json" id="profkit-figures">(.*?)</script>', html, re.S)
    return orjson.loads(m.group(1))


def test_script_json_cannot_close_the_script_element():
    obj = {"k": "</script><!-- & \u2028", "n": [1.5]}
    text = str(script_json(obj))
    assert "<" not in text and ">" not in text and "&" not in text
    assert orjson.loads(text) == obj


def test_single_report_has_every_section_and_one_plotly(tmp_path):
    run = fixture_run(tmp_path, "one", [("sgemm_a", 100.0), ("sgemm_b", 50.0)], idle_pct=40.0)
    html = render_html([run], ["one_traces/one.json.gz"])
    assert html.count(get_plotlyjs()[:300]) == 1
    for section in ("runs", "headline", "findings", "classes", "timeline", "gaps", "whatif", "kernels", "efficiency",
                    "hta"):
        assert f'<section id="{section}">' in html
    assert 'id="diff"' not in html  # a diff needs exactly two runs
    figs = figures_of(html)
    assert set(figs) == {"classes", "gaps", "timeline-0", "whatif-0"}  # a GPU run with steps gets a prediction
    assert 'data-url="one_traces/one.json.gz"' in html
    assert ">60.0%<" in html and ">40.0%<" in html  # busy and idle from the summary
    assert "No efficiency numbers" in html and "HolisticTraceAnalysis" in html


def test_timeline_is_relative_to_the_window_and_gaps_coloured_by_cause(tmp_path):
    run = fixture_run(tmp_path, "one", [("k", 100.0)])
    fig = figures_of(render_html([run], [None]))["timeline-0"]
    busy, gaps = fig["data"]
    assert busy["base"] == [0.0, 0.25, 0.5, 0.75]  # ms from window start (span 1000 µs, 4 bins)
    # Colours are computed on the strip's scale (0% #fbe3d6, 50% #9ecae1, 100% #08519c), not by plotly.
    assert busy["marker"]["color"] == ["#fbe3d6", "#ccd6dc", "#9ecae1", "#538ebe"]
    assert gaps["name"] == "host-bound gap" and gaps["base"] == [0.1] and gaps["x"] == [0.25]


def test_trace_strings_render_as_text(tmp_path):
    run = fixture_run(tmp_path, "evil", [(EVIL, 100.0), ("ok", 10.0)])
    run.label = "run<b>\"'"
    html = render_html([run], ["evil_traces/x.json.gz"])
    # Only profkit's own three <script> elements exist; no injected tag survived.
    assert html.lower().count("<script") == 3
    assert "<img" not in html and "window.__pwned=1</script>" not in html
    assert "&lt;img src=x onerror=" in html  # shown to the reader as text
    assert "run&lt;b&gt;&#34;&#39;" in html
    figs = figures_of(html)
    # Plotly renders a subset of HTML in labels: run labels and hover text arrive escaped.
    assert figs["classes"]["data"][0]["y"] == ["run&lt;b&gt;\"'"]
    hover = figs["timeline-0"]["data"][1]["customdata"][0]
    assert "<img" not in hover and "</script" not in hover and "&lt;/script&gt;" in hover


def test_headline_rows_and_speedup(tmp_path):
    # Per step: kernels 100 + 50 µs with 20 µs gaps -> steps of 190 µs (eager);
    # the second run's kernels are shorter: 40 + 20 + 2 gaps of 20 -> 100 µs.
    eager = fixture_run(tmp_path, "e", [("a", 100.0), ("b", 50.0)], mode="eager")
    graph = fixture_run(tmp_path, "g", [("a", 40.0), ("b", 20.0)], mode="cudagraph")
    runs = order_runs([graph, eager])
    assert [r.label for r in runs] == ["e", "g"]
    numbers = [M.compute(r) for r in runs]
    assert numbers[0].step_us == pytest.approx(190.0) and numbers[1].step_us == pytest.approx(100.0)
    assert numbers[0].period_us == pytest.approx(190.0) and numbers[1].period_us == pytest.approx(100.0)
    rows = {name: cells for name, cells, _ in M.headline_rows(runs, numbers)}
    assert rows["Speed-up over eager"] == ["1.00×", "1.90×"]
    assert rows["Launches per step"] == ["2", "2"]  # a whole count prints without decimals
    assert "TTFT" not in rows  # no sidecar: the row would be empty


def test_page_shows_each_finding_with_action_evidence_and_rule():
    from profkit.report.runs import load_runs

    runs = load_runs([real_trace("kineto-rtx5080-mlp-train-eager.json.gz"),
                      real_trace("kineto-rtx5080-mlp-train-cudagraph-manual.json.gz")])
    numbers = [M.compute(r) for r in runs]
    shown = FND.findings(runs, numbers)
    launch = next(f for f in shown if f.rule == "launch_bound")
    assert launch.run == runs[0].label and "CUDA graph" in launch.action
    assert ("launches per step", "34") in launch.numbers  # 238 kernel launches / 7 steps, as the headline row
    assert not any(f.rule == "launch_bound" and f.run == runs[1].label for f in shown)  # graphed
    # The comparison says whether the difference beats the runs' noise (profiler-step ranges here).
    (cmp,) = [f for f in shown if f.rule == "comparison"]
    steps = runs[0].trace.steps["dur"], runs[1].trace.steps["dur"]
    apart = steps[0].max() < steps[1].min() or steps[1].max() < steps[0].min()
    assert ("exceeds the measured noise" if apart else "within the measured noise") in cmp.text
    html = render_html(runs, [None, None])
    assert "launch_bound" in html and "Try:" in html and "reduce-overhead" in html
    assert "kv_cache_growth" in html  # the rules table lists every rule


def test_diff_finds_added_removed_and_changed(tmp_path):
    a = fixture_run(tmp_path, "a", [("gone", 10.0), ("same", 100.0)])
    b = fixture_run(tmp_path, "b", [("same", 40.0), ("new", 30.0)])
    d = diff_runs(a.analysis, b.analysis)
    assert d["per_step"]
    assert [k["name"] for k in d["added"]] == ["new"] and [k["name"] for k in d["removed"]] == ["gone"]
    same = next(k for k in d["changed"] if k["name"] == "same")
    assert same["time_a"] == pytest.approx(100.0) and same["delta"] == pytest.approx(-60.0)
    assert d["net_us"] == pytest.approx((40 + 30) - (10 + 100))


def test_comparison_renders_diff_and_a_column_per_run(tmp_path):
    a = fixture_run(tmp_path, "a", [("x", 10.0)], mode="compiled")
    b = fixture_run(tmp_path, "b", [("x", 20.0)], mode="eager")
    html = render_html(order_runs([a, b]), [None, None])
    assert '<section id="diff">' in html and "Diff: b → a" in html
    assert re.search(r"<th>Metric</th><th>b</th><th>a</th>", html)


def test_find_traces_expands_folders_and_skips_sidecars(tmp_path):
    for name in ("b.json.gz", "a.json", "a.meta.json", ".a.json.gz.tmp", "notes.txt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_traces([tmp_path])] == ["a.json", "b.json.gz"]


def test_mode_from_sidecar_wins(tmp_path):
    run = fixture_run(tmp_path, "s", [("x", 1.0)], mode="eager")
    run.analysis.sidecar = capture_of({"mode": "compiled"})  # a compiled capture's sidecar beside the eager-looking trace
    assert run.mode == "compiled"


def test_efficiency_and_roofline_render_when_present(tmp_path):
    run = fixture_run(tmp_path, "eff", [("sgemm", 100.0)])
    eff = run.summary.efficiency
    none = CountTime(count=0, time_us=0.0)

    def row(pct_flops, pct_time, mue):
        return EfficiencyClass(time_us=pct_time, pct_time=pct_time, ops=1, counted=CountTime(count=1, time_us=pct_time),
                               flops=pct_flops, bytes=1.0, pct_flops=pct_flops, tflops=None, gbps=None, mue_pct=mue,
                               compute_pct=None, no_shapes=none, unmodeled=none, host_copy=none, no_op=none,
                               above_peak=none, reason=None)

    eff.classes = {"tensor_contraction": row(99.0, 60.0, 12.5), "normalization": row(1.0, 40.0, 3.0)}
    eff.reference = Reference(source="Ivanov et al. <MLSys 2021>",
                              classes={"normalization": ReferenceClass(pct_flops=0.17, pct_time=25.5)})
    # 1 GFLOP over 1 GB in 10 ms on a 1000 GB/s, 100 TFLOP/s device.
    phase = RooflinePhase(flops=1e9, bytes=1e9, limit_ms=1.0, bound="memory", measured_ms=10.0, pct_of_limit=1000.0)
    run.summary.roofline = Roofline(
        model="gpt2", dtype="float16", batch=1, prompt_len=8, new_tokens=4,
        params=RooflineParams(total=1, embedding=0, non_embedding=1, per_layer=1, reported=None),
        weight_bytes=2, kv_cache_bytes=0, prefill=phase,
        decode_step=RooflinePhase(flops=1e6, bytes=1e6, limit_ms=None, bound=None, measured_ms=None,
                                  pct_of_limit=None),
        device=RooflineDevice(name="Test GPU", bandwidth_gbs=1000.0, peak_tflops=100.0, source="", note=""),
        unavailable=None)
    html = render_html([run], [None])
    figs = figures_of(html)
    assert {"flops", "mue", "roofline"} <= set(figs)
    assert figs["mue"]["data"][0]["y"] == [12.5, 3.0]
    point = figs["roofline"]["data"][1]
    assert point["x"] == [1.0] and point["y"] == [pytest.approx(0.1)]  # 1e9 FLOP / 10 ms = 0.1 TFLOP/s
    assert "99.0% / 60.0% / 12.5%" in html and "1000.0%" in html
    assert "Ivanov et al. &lt;MLSys 2021&gt;" in html


def test_empty_charts_become_sentences(tmp_path):
    run = fixture_run(tmp_path, "quiet", [("k", 10.0)])
    for b in run.summary.gaps.histogram:
        b.count = 0
    for c in run.summary.classes.values():
        c.time_us = c.per_step_us = 0.0
    html = render_html([run], [None])
    assert set(figures_of(html)) == {"timeline-0", "whatif-0"}  # the what-if chart has bars: the kernels' work
    assert "No idle gaps in the analysis window." in html and "No classified time in this run." in html


def test_comparison_under_load_gives_no_verdict_and_the_page_one_speedup(main_job_capture, tmp_path):
    """The issue's run: eager at load 3.5, compiled at 5.1–6.6 on 2 CPUs. The finding quotes the
    headline row's speed-up (one figure per comparison) and declines a verdict."""
    import shutil

    from profkit.report.runs import load_runs
    from tests.helpers.runs import time_under_load

    folder = tmp_path / "run"
    shutil.copytree(main_job_capture, folder)
    time_under_load(folder / "tiny-eager-b1-s8.meta.json", 3.5, 3.4)
    time_under_load(folder / "tiny-compiled-b1-s8.meta.json", 5.1, 6.6)
    runs = load_runs(sorted(folder.glob("*.json.gz")))
    numbers = [M.compute(r) for r in runs]
    up = dict((name, cells) for name, cells, _ in M.headline_rows(runs, numbers))["Speed-up over eager"]
    (cmp,) = [f for f in FND.findings(runs, numbers) if f.rule == "comparison"]
    assert f"speed-up {up[1]}" in cmp.text and cmp.severity == "info"
    assert "no verdict: tiny-eager-b1-s8 was timed on a noisy machine (" in cmp.text
    assert "load average 3.50 > 2 CPUs" in cmp.text and "load average 6.60 > 2 CPUs" in cmp.text
    assert "exceeds the measured noise" not in cmp.text
    # The same runs timed quietly get the range verdict.
    time_under_load(folder / "tiny-eager-b1-s8.meta.json", 0.2, 0.2)
    time_under_load(folder / "tiny-compiled-b1-s8.meta.json", 0.2, 0.2)
    runs = load_runs(sorted(folder.glob("*.json.gz")))
    numbers = [M.compute(r) for r in runs]
    (cmp,) = [f for f in FND.findings(runs, numbers) if f.rule == "comparison"]
    quiet_runs = all(n.noise.verdict == "quiet" for n in numbers)
    assert ("ranges" in cmp.text) == quiet_runs and ("no verdict" in cmp.text) != quiet_runs


def test_class_totals_above_the_wall_time_say_why(tmp_path):
    """Two threads each doing 600 µs of matmul in a 1000 µs step: 1200 µs of class time per step."""
    from profkit.analysis.result import NO_STEPS
    from profkit.report.runs import load_runs
    from tests.helpers.traces import ev, write_kineto

    events = []
    for step, t0 in enumerate((0.0, 1000.0)):
        events.append(ev("user_annotation", f"ProfilerStep#{step}", t0, 1000.0))
        events += [ev("cpu_op", "aten::mm", t0 + 100, 600.0, tid=tid) for tid in (1, 2)]
    path = write_kineto(tmp_path / "threads.json.gz", events)
    runs = load_runs([path])
    numbers = [M.compute(r) for r in runs]
    per_step = runs[0].summary.steps.source != NO_STEPS
    total = sum(c.per_step_us for c in runs[0].summary.classes.values())
    assert per_step and total == pytest.approx(1200.0) and numbers[0].step_us == pytest.approx(1000.0)
    (note,) = M.class_total_notes(runs, numbers, per_step)
    assert "add up to 1.200 ms per step, more than the wall time per step (1.000 ms)" in note
    assert "ops on 2 threads run at the same time" in note
    assert note in render_html(runs, [None])
    # The terminal says it over the whole window: 2 steps x 1200 µs of class time in 2000 µs.
    from tests.helpers.cli import profkit_cli

    out = " ".join(profkit_cli("analyze", path, "--no-cache").stdout.split())
    assert ("note: over the analysis window, the classes add up to 2.400 ms, more than the wall time (2.000 ms): "
            "ops on 2 threads run at the same time") in out


def test_gpu_work_without_a_recorded_launch_is_counted_from_plain_json():
    """The per-step figures cannot attribute activities whose launch call is not in the trace:
    the page says how many and what share of the GPU time (hand count: correlation ids)."""
    import gzip
    import json

    from profkit.report.runs import load_runs

    path = real_trace("kineto-h100-qwen1.5-0.5b-hf-eager-infer.json.gz")
    ev = [e for e in json.loads(gzip.decompress(path.read_bytes()))["traceEvents"] if e.get("ph") == "X"]
    launched = {e["args"].get("correlation") for e in ev if e.get("cat") in ("cuda_runtime", "cuda_driver")}
    gpu = [e for e in ev if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    alone = [e for e in gpu if e.get("args", {}).get("correlation") not in launched]
    (run,) = load_runs([path])
    n = M.compute(run)
    assert n.unlaunched_ops == len(alone) and n.unlaunched_us == pytest.approx(sum(e["dur"] for e in alone))
    assert n.unlaunched_pct == pytest.approx(100 * sum(e["dur"] for e in alone) / sum(e["dur"] for e in gpu), abs=0.05)
    rows = {name: cells for name, cells, _ in M.headline_rows([run], [n])}
    assert rows["GPU work without a recorded launch"] == [f"{len(alone)} ops / 13.7 ms (30.1% of GPU time)"]


@pytest.mark.shared
def test_the_ops_table_lists_each_runs_launching_ops(tmp_path):
    from profkit.analysis.analyze import analyze
    from profkit.report.runs import Run
    from profkit.trace import load

    path = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")
    run = Run(path=path, analysis=analyze(load(path)), label="bert")
    html = render_html([run], ["bert_traces/bert.json.gz"])
    table = re.search(r'<table class="sortable ops">(.*?)</table>', html, re.S).group(1)
    names = re.findall(r'<td class="opname" title="([^"]+)">', table)
    assert names == [o.name for o in run.summary.ops]
    first = run.summary.ops[0]
    assert first.name == "aten::addmm" and f'data-v="{first.direct_kernel_us}"' in table and 'data-v="26"' in table
