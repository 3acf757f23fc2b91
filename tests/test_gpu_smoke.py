"""benchmarks/gpu_smoke.sh on a machine without a GPU: argument handling, and its checks on fake and real results."""

import copy
import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from profkit.analysis.ranks import summarize_rank
from profkit.analysis.result import to_builtins
from tests.helpers import REPO
from tests.helpers.traces import real_trace

SCRIPT = REPO / "benchmarks" / "gpu_smoke.sh"
_spec = importlib.util.spec_from_file_location("gpu_smoke_check", REPO / "benchmarks" / "gpu_smoke_check.py")
smoke = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smoke)


def run_script(*args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **env})


@pytest.mark.parametrize("args,code,words", [
    ([], 2, "usage: benchmarks/gpu_smoke.sh OUT"),
    (["--help"], 0, "--wheels"),
    (["out", "--fast"], 2, "unknown option --fast"),
    (["a", "b"], 2, "one OUT folder only"),
    (["out", "--budget", "soon"], 2, "--budget takes whole seconds"),
    (["out", "--budget"], 2, "usage:"),
    (["out", "--wheels", "/nonexistent/wheels"], 2, "is not a folder"),
])
def test_arguments(tmp_path, args, code, words):
    r = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == code and words in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created on a refusal


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_refuses_without_a_gpu_before_writing_anything(tmp_path):
    r = run_script(str(tmp_path / "out"))
    assert r.returncode == 2 and "needs torch and transformers with a CUDA device" in r.stderr
    assert not (tmp_path / "out").exists()


def good_runs():
    """What three healthy captures of gpt2 (3 profiled generations of 32 decode steps) analyse to."""
    side = {"steps": 3, "new_tokens": 32, "timing": {"ttft_ms": 4.2, "tokens_per_s": 1500.0},
            "peak_memory_bytes": 700_000_000, "peak_memory_kind": "cuda_max_allocated",
            "output_tokens": {"sha256": "ab" * 32, "first": [5, 7, 7]}, "device": {"type": "cuda", "name": "X"}}
    base = {"device": {"kind": "cuda", "count": 1}, "capture": side, "roofline": {"weight_bytes": 497_759_232},
            "cuda_graphs": {"launches": 0, "launches_with_work": 0, "kernels_per_launch_mean": 0.0, "gpu_ops": 0},
            "temporal": {"idle_pct": 60.0}, "phases": {"decode": {"count": 3, "ops": 3 * 32 * 150}}}
    runs = {m: copy.deepcopy(base) for m in smoke.MODES}
    runs["compiled"]["temporal"]["idle_pct"] = 45.0
    g = runs["cudagraph"]
    g["temporal"]["idle_pct"] = 5.0
    g["cuda_graphs"] = {"launches": 96, "launches_with_work": 96, "kernels_per_launch_mean": 140.0, "gpu_ops": 96 * 140}
    g["phases"]["decode"]["ops"] = 96 * 141
    return runs


def results(runs, report=None):
    return {name: (ok, detail) for name, ok, detail in smoke.run_checks(runs, report)}


def test_healthy_results_pass():
    r = results(good_runs())
    assert all(ok for ok, _ in r.values()), r
    assert r["graph_replays_decode"][1] == "96 launches, 140.0 kernels each (eager decode step: 150.0 GPU ops)"
    assert r["idle_drops"][1] == "idle 5.0% cudagraph vs 60.0% eager"


def broken(change):
    runs = good_runs()
    change(runs)
    return runs


@pytest.mark.parametrize("change,check,words", [
    (lambda r: r["cudagraph"]["cuda_graphs"].update(launches=95, launches_with_work=95), "graph_replays_decode",
     "95 graph launches, expected 3 generations x 32 steps = 96"),
    (lambda r: r["cudagraph"]["cuda_graphs"].update(kernels_per_launch_mean=3.0), "graph_replays_decode",
     "3.0 kernels per launch vs 150.0 GPU ops per eager decode step"),
    (lambda r: r["cudagraph"]["phases"]["decode"].update(ops=10), "graph_replays_decode",
     "only 10 issued inside decode regions"),
    (lambda r: r["cudagraph"].pop("phases"), "graph_replays_decode", "lacks cuda_graphs, phases.decode"),
    (lambda r: r["cudagraph"]["capture"]["output_tokens"].update(sha256="cd" * 32, first=[5, 8]), "tokens_match",
     "tokens differ: eager starts [5, 7, 7], cudagraph [5, 8]"),
    (lambda r: r["eager"]["capture"].pop("output_tokens"), "tokens_match", "lacks output_tokens"),
    (lambda r: r["cudagraph"]["temporal"].update(idle_pct=61.0), "idle_drops", "idle 61.0% cudagraph vs 60.0%"),
    (lambda r: r["eager"].pop("temporal"), "idle_drops", "lacks temporal.idle_pct"),
    (lambda r: r["compiled"]["capture"]["timing"].update(tokens_per_s=None), "timing", "compiled TTFT 4.2 ms, None"),
    (lambda r: r["eager"]["capture"].update(peak_memory_kind="rss_hwm"), "peak_memory", "eager rss_hwm"),
    (lambda r: r["eager"]["capture"].update(peak_memory_bytes=1000), "peak_memory", "eager cuda_max_allocated 1000"),
    (lambda r: r["compiled"]["device"].update(kind="cpu", count=0), "on_gpu", "compiled: cpu x0"),
])
def test_each_check_fails_on_its_fault(change, check, words):
    r = results(broken(change))
    ok, detail = r[check]
    assert not ok and words in detail, detail
    assert all(ok for name, (ok, _) in r.items() if name != check)  # the others are unaffected


def write_out(folder, runs, report_text):
    (folder / "analysis").mkdir(parents=True)
    for mode, run in runs.items():
        (folder / "analysis" / f"{mode}.json").write_text(json.dumps(run))
    if report_text is not None:
        (folder / "report.html").write_text(report_text)


def test_main_writes_the_summary_and_exits_by_the_checks(tmp_path, capsys):
    ok_dir, bad_dir = tmp_path / "ok", tmp_path / "bad"
    write_out(ok_dir, good_runs(), "<html>eager compiled cudagraph</html>")
    assert smoke.main([str(ok_dir)]) == 0
    summary = json.loads((ok_dir / "summary.json").read_text())
    assert summary["passed"] and [c["name"] for c in summary["checks"]][-1] == "report"
    assert summary["idle_pct"] == {"eager": 60.0, "compiled": 45.0, "cudagraph": 5.0}
    assert (ok_dir / "summary.txt").read_text().endswith("all checks passed\n")
    write_out(bad_dir, good_runs(), None)  # no report rendered
    assert smoke.main([str(bad_dir)]) == 1
    assert "FAIL  report: report.html: 0 bytes, missing or incomplete" in capsys.readouterr().out
    assert smoke.main([str(tmp_path / "empty")]) == 2
    assert smoke.main([]) == 2 and smoke.main(["--x"]) == 2


def test_checks_on_real_gpu_traces():
    """The idle and GPU checks on real analyses: a CUDA-graph MLP trace vs its eager twin (RTX 5080)."""
    # As the script reads them: `profkit analyze --json` output.
    eager = to_builtins(summarize_rank(real_trace("kineto-rtx5080-mlp-train-eager.json.gz")))
    graph = to_builtins(summarize_rank(real_trace("kineto-rtx5080-mlp-train-cudagraph-manual.json.gz")))
    runs = {"eager": eager, "compiled": eager, "cudagraph": graph}
    ok, detail = smoke.check_idle_drops(runs)
    assert ok and detail == f"idle {graph['temporal']['idle_pct']:.1f}% cudagraph vs {eager['temporal']['idle_pct']:.1f}% eager"
    assert smoke.check_on_gpu(runs) == (True, "eager: cuda x1, compiled: cuda x1, cudagraph: cuda x1")
    assert graph["cuda_graphs"]["launches"] > 0 and graph["cuda_graphs"]["kernels_per_launch_mean"] > 1
    # Not a profkit capture: no decode regions and no sidecar, so the replay check says so instead of passing.
    assert smoke.check_graph_replays_decode(runs) == (
        False, "the cudagraph or eager analysis lacks cuda_graphs, phases.decode or the capture settings")
