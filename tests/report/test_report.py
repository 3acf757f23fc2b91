"""`profkit report` / `annotate` end to end, on synthetic and real traces."""

import re

import numpy as np
import orjson
import pytest

from profkit.analysis.classes.classify import CLASSES
from profkit.analysis.analyze import summarize
from profkit.report.annotate import annotate
from profkit.report.build import build_report
from profkit.trace import load
from tests.helpers.cli import profkit_cli
from tests.helpers.report import headline, write_trace
from tests.helpers.traces import raw_events, real_trace

EAGER = "kineto-rtx5080-mlp-train-eager.json.gz"
GRAPH = "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz"


def independent_idle_pct(path):
    """Idle share of [first, last] GPU activity, from the raw JSON (not profkit's loader)."""
    iv = sorted((e["ts"], e["ts"] + e["dur"]) for e in raw_events(path)
                if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"))
    busy, reach = 0.0, -np.inf
    for s, e in iv:
        if e > reach:
            busy += e - max(s, reach)
            reach = e
    span = max(e for _, e in iv) - iv[0][0]
    return 100 * (1 - busy / span)


def independent_launches_per_step(path):
    ev = raw_events(path)
    # Kernel launches only: graph launches and memcpy/memset calls are counted apart.
    launches = sum(1 for e in ev if e.get("cat") in ("cuda_runtime", "cuda_driver")
                   and re.match(r"cudaLaunchKernel|cuLaunchKernel", e.get("name", "")))
    steps = {e["name"] for e in ev if re.fullmatch(r"ProfilerStep#\d+", str(e.get("name", "")))}
    return launches / len(steps)


@pytest.mark.shared
def test_cudagraph_vs_eager_report_shows_idle_and_launches(tmp_path):
    eager, graph = real_trace(EAGER), real_trace(GRAPH)
    out = build_report([graph, eager], tmp_path / "mlp.html")  # given out of order on purpose
    html = out.read_text()
    assert re.search(r"<th>Metric</th><th>kineto-rtx5080-mlp-train-eager</th>"
                     r"<th>kineto-rtx5080-mlp-train-cudagraph-manual</th>", html)
    idle = [float(c.rstrip("%")) for c in headline(html, "Idle %")]
    assert idle[0] == pytest.approx(independent_idle_pct(eager), abs=0.1)
    assert idle[1] == pytest.approx(independent_idle_pct(graph), abs=0.1)
    assert idle[0] > 50 and idle[1] < 5  # what CUDA graphs do to a launch-bound step
    per_step = [float(c) for c in headline(html, "Launches per step")]
    assert per_step == [pytest.approx(independent_launches_per_step(p), abs=0.05) for p in (eager, graph)]
    assert per_step[0] > 5 * per_step[1]
    assert headline(html, "CUDA-graph launches") == ["0", "7"]
    assert "Launch-bound: the GPU is idle 66%" in html and "idle 66% → 2%" in html
    assert '<section id="diff">' in html
    for name in ("kineto-rtx5080-mlp-train-eager", "kineto-rtx5080-mlp-train-cudagraph-manual"):
        assert (tmp_path / "mlp_traces" / f"{name}.json.gz").is_file()
    assert out.stat().st_size < 6_000_000  # plotly.js (4.8 MB) once, plus aggregates


@pytest.mark.shared
def test_large_trace_report_stays_small(tmp_path):
    big = real_trace("kineto-h100-owlv2-large-hf-eager-infer.json.gz")  # 55 MB of JSON, 4330 kernels
    html = build_report([big], tmp_path / "big.html", hta=False).read_text()
    figures = re.search(r'id="profkit-figures">(.*?)</script>', html, re.S).group(1)
    assert len(figures) < 200_000
    assert html.count("<tr><td class=\"kname\"") <= 50


def test_annotate_adds_gap_and_class_tracks(tmp_path):
    # 2 steps x (100 µs, 50 µs) kernels, 20 µs apart, each launched after the
    # previous one ended: 3 host-bound gaps of 20 µs.
    src = write_trace(tmp_path / "t.json.gz", [("sgemm_nn", 100.0), ("vectorized_elementwise_kernel", 50.0)])
    counts = annotate(src, tmp_path / "out.json.gz")
    assert counts["gaps"] == 3
    ev = raw_events(tmp_path / "out.json.gz")
    gaps = [e for e in ev if e.get("cat") == "profkit_gap"]
    assert [(e["name"], e["dur"]) for e in gaps] == [("idle: host_bound", 20.0)] * 3
    assert [e["ts"] for e in gaps] == [1100.0, 1170.0, 1290.0]
    kernels = [e for e in ev if e.get("cat") == "kernel"]
    assert [e["args"]["profkit class"] for e in kernels] == ["tensor_contraction", "elementwise"] * 2
    mirrored = [e for e in ev if e.get("cat") == "profkit_class"]
    assert [(e["name"], e["ts"]) for e in mirrored] == [(k["args"]["profkit class"], k["ts"]) for k in kernels]
    names = {e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] in ("process_name", "thread_name")}
    assert "profkit: analysis" in names and "profkit: idle gaps (GPU 0), named by cause" in names


@pytest.mark.shared
def test_annotate_round_trip_on_a_real_trace(tmp_path):
    src = real_trace(EAGER)
    out = tmp_path / "annotated.json.gz"
    counts = annotate(src, out)
    before, after = load(src), load(out)
    summary = summarize(before)
    assert counts["gaps"] == summary.gaps.count == after.counts["profkit_gap"]
    assert len(after.gpu) == len(before.gpu) and after.meta.keys() == before.meta.keys()
    gaps = [e for e in raw_events(out) if e.get("cat") == "profkit_gap"]
    assert sum(e["dur"] for e in gaps) == pytest.approx(summary.gaps.total_us)
    classes = [e["args"]["profkit class"] for e in raw_events(out) if e.get("cat") == "kernel"]
    assert len(classes) == (before.gpu["kind"] == "kernel").sum() and set(classes) <= set(CLASSES)
    # Annotating an annotated trace replaces profkit's tracks instead of doubling them.
    annotate(out, tmp_path / "twice.json.gz")
    assert load(tmp_path / "twice.json.gz").counts == after.counts


def _sidecar(path, mode, **extra):
    model = {"name": "gpt2-test", "n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 128, "vocab_size": 1000}
    meta = {"model": model, "mode": mode, "device": {"type": "cpu", "name": "Test CPU"},
            "dtype": "float32", "batch": 1, "prompt_len": 8, "new_tokens": 4,
            "timing": {"ttft_ms": 12.5, "decode_ms_per_token": 3.0, "tokens_per_s": 333.3, "total_ms": 21.5},
            "versions": {"torch": "2.13.0"}, "command": ["profkit", "capture", "--mode", mode], **extra}
    path.with_name(path.name.replace(".json.gz", ".meta.json")).write_bytes(orjson.dumps(meta))


def test_folder_report_orders_modes_and_uses_sidecars(tmp_path, monkeypatch):
    runs = tmp_path / "traces"
    runs.mkdir()
    for name, mode in (("a", "cudagraph"), ("b", "eager"), ("c", "compiled")):
        p = write_trace(runs / f"{name}.json.gz", [("sgemm", 50.0)])
        _sidecar(p, mode)
    monkeypatch.chdir(tmp_path)
    out = build_report([runs], hta=False)
    assert out == tmp_path.joinpath("reports", "traces.html").relative_to(tmp_path)
    html = out.read_text()
    assert re.search(r"<th>Metric</th><th>b</th><th>c</th><th>a</th>", html)
    assert headline(html, "TTFT") == ["12.50 ms"] * 3
    assert headline(html, "Launches per token") == ["0.5"] * 3  # 2 launches / 4 new tokens
    assert "profkit capture --mode compiled" in html and "gpt2-test" in html and "torch 2.13.0" in html


def test_hta_section_says_how_to_enable_it(tmp_path, monkeypatch):
    import profkit.report.hta_section as H

    monkeypatch.setattr(H, "hta_version", lambda: None)
    src = write_trace(tmp_path / "t.json.gz", [("sgemm", 50.0)])
    html = build_report([src], tmp_path / "r.html").read_text()
    assert "pip install &#39;profkit[hta]&#39;" in html


def test_hta_section_is_htas_own(tmp_path):
    pytest.importorskip("hta")
    src = write_trace(tmp_path / "t.json.gz", [("sgemm", 50.0), ("gemv", 10.0)], steps=3)
    html = build_report([src], tmp_path / "r.html").read_text()
    section = html[html.index('<section id="hta">'):]
    assert "Computed by HTA" in section and "Queue length per stream" in section
    # 6 launches, each issued after the previous kernel ended: the queue never holds more than 1.
    row = re.search(r"<tr><td>7</td><td>(\d+)</td><td>([\d.]+)</td><td>\d+</td><td>\d+</td><td>(\d+)</td>", section)
    assert row and int(row.group(3)) == 1


def test_cli_report_and_annotate(tmp_path):
    src = write_trace(tmp_path / "t.json.gz", [("sgemm", 50.0)])
    r = profkit_cli("report", src, "-o", tmp_path / "out" / "r.html", "--no-hta")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "out" / "r.html") and "profkit serve" in r.stderr
    r = profkit_cli("annotate", src, "-o", tmp_path / "a.json.gz")
    assert r.returncode == 0 and load(tmp_path / "a.json.gz").counts["profkit_gap"] == 1


@pytest.mark.parametrize("args, message", [
    (["report", "missing.json.gz"], "no such trace file or folder"),
    (["report", "{src}", "-o", "{tmp}/r.txt"], "name it *.html"),
    (["annotate", "missing.json.gz", "-o", "{tmp}/a.json.gz"], "no such file"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    src = write_trace(tmp_path / "t.json.gz", [("sgemm", 50.0)])
    r = profkit_cli(*[a.format(src=src, tmp=tmp_path) for a in args], cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("profkit: error:") and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.txt").exists() and not (tmp_path / "a.json.gz").exists()


@pytest.mark.shared
def test_communication_section_and_strip(tmp_path):
    """The B200 TP8 trace gets the compute vs communication strip, its all-gather's
    bandwidths (recomputed from the raw kernel args) and the reason for the rest;
    a trace without communication gets neither the section nor its link."""
    path = real_trace("kineto-b200-vllm-tp8-rank0-eager.json.gz")
    html = build_report([path], tmp_path / "vllm.html", hta=False).read_text()
    assert '<section id="communication">' in html and 'id="fig-comm-0"' in html
    (ag,) = [e for e in raw_events(path) if e.get("cat") == "kernel" and "Collective name" in e.get("args", {})]
    algbw = 2 * ag["args"]["Out msg nelems"] / (ag["dur"] * 1e3)
    row = re.search(r"<td>_allgather_base</td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[:4] == ["BFloat16", "8", "1", "402,176"]
    assert [float(c) for c in cells[-2:]] == [pytest.approx(algbw, abs=0.005), pytest.approx(algbw * 7 / 8, abs=0.005)]
    assert "73 of 74 communication kernels" in html
    quiet = build_report([real_trace(EAGER)], tmp_path / "mlp.html", hta=False).read_text()
    assert '<section id="communication">' not in quiet and 'href="#communication"' not in quiet
