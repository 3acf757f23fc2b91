"""Findings on profkit's own CPU captures of GPT-2: the KV-cache case, and no GPU or compile advice."""

import io
import json
import statistics

import pytest
from rich.console import Console
from transformers import GPT2Config

import profkit
from profkit.analysis.advice.findings import RULES
from profkit.capture.config import CaptureConfig
from profkit.capture.run import capture_run
from profkit.report import console
from tests.helpers.traces import summary_json

GPU_WORDS = ("CUDA", "GPU", "pin", "non_blocking", "torch.compile", "compile mode", "stream")


def _capture(model, mode, out, **kw):
    side = capture_run(CaptureConfig(model=model, mode=mode, device="cpu", batch=1, warmup=1, steps=2, out_dir=out,
                                     **kw))
    path = out / side["trace"]
    return path, json.loads(path.with_name(path.name.replace(".json.gz", ".meta.json")).read_text())


def _no_gpu_or_compile_advice(found):
    needs = {r.id: r.needs for r in RULES}
    for f in found:
        assert "gpu" not in needs[f["rule"]] and "not_graphed" not in needs[f["rule"]]
        for word in GPU_WORDS:
            assert word not in f["action"], (f["rule"], word)


@pytest.mark.slow
def test_gpt2_eager_cpu_capture_explains_cat_as_kv_cache_growth(tmp_path):
    from profkit.analysis.advice.engine import facts, quality
    from profkit.analysis.analyze import summarize
    from profkit.analysis.tables import Tables
    from profkit.runfiles.sidecar import capture_of

    path, side = _capture("gpt2", "eager", tmp_path, prompt_len=128, new_tokens=8)
    trace = profkit.load(path)
    s = summary_json(trace, sidecar=side)
    found = {f["rule"]: f for f in s["findings"]}
    assert "timing" in side and side["timing"]["noise"]["samples"] == 2
    _no_gpu_or_compile_advice(s["findings"])
    # The growing cat is in the trace whatever the machine's load; its share of the decode time, and the
    # noise it must beat, are not. So the check runs with no threshold for the evidence, and the finding
    # must be shown exactly when the share clears the rule's threshold by more than the measured noise
    # (a capture timed on a busy machine may lose it; then it is missing, not shown).
    rule = next(r for r in RULES if r.id == "kv_cache_growth")
    fx = facts(Tables(trace), summarize(trace, sidecar=side), capture_of(side))
    hit = rule.check(fx, {**rule.thresholds, "cat_pct": 0.0})
    assert hit is not None and "static KV cache" in hit.action and "StaticCache" in hit.action
    limit = rule.thresholds["cat_pct"]
    assert ("kv_cache_growth" in found) == (hit.effect >= limit and quality(hit.effect, limit, fx)[0])
    n = hit.evidence.numbers
    # The decode steps append one position each: the cache the cat copies grows 128 -> 128 + 8 - 1.
    assert (n["grows_from"], n["grows_to"]) == (128, 135)
    # Recount the cat calls from the plain trace: 2 (K, V) x 12 layers per forward, 1 + 8 forwards, 2 steps.
    import gzip
    events = json.load(gzip.open(path))["traceEvents"]
    cats = [e for e in events if e.get("cat") == "cpu_op" and e["name"] == "aten::cat"]
    assert n["cat_calls"] == len(cats)
    # The share counts calls x median: recompute the median from the cat calls inside the decode regions.
    decodes = [e for e in events if e.get("cat") == "user_annotation" and e["name"] == "decode"]
    ops = [e for e in events if e.get("cat") == "cpu_op"]

    def self_us(op):  # its duration less its direct children's (aten::narrow, slice, ... on some torch builds)
        kids = [c for c in ops if c is not op and c["tid"] == op["tid"]
                and op["ts"] <= c["ts"] and c["ts"] + c["dur"] <= op["ts"] + op["dur"]]
        direct = [c for c in kids if not any(p is not c and p["ts"] <= c["ts"] and c["ts"] + c["dur"] <= p["ts"] + p["dur"]
                                             for p in kids)]
        return op["dur"] - sum(c["dur"] for c in direct)

    inside = sorted(self_us(e) for e in cats if any(d["ts"] <= e["ts"] <= d["ts"] + d["dur"] for d in decodes))
    assert n["cat_calls_counted"] == len(inside)
    assert n["cat_median_us"] == pytest.approx(statistics.median(inside), rel=0.05)


@pytest.mark.slow
def test_compiled_cpu_capture_gets_no_kv_cache_nor_compile_advice(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64, bos_token_id=0,
               eos_token_id=0).to_json_file(d / "config.json")
    path, side = _capture(str(d), "compiled", tmp_path / "out", prompt_len=8, new_tokens=4)
    assert side["compile"]["kv_cache"] == "static"
    s = summary_json(profkit.load(path), sidecar=side)
    assert s["mode"]["name"] == "compiled"
    _no_gpu_or_compile_advice(s["findings"])
    assert "kv_cache_growth" not in {f["rule"] for f in s["findings"]}
    assert "memory_bound_fusion" not in {f["rule"] for f in s["findings"]}
    # The terminal says how noisy the capture's timing was.
    out = io.StringIO()
    from profkit.analysis.analyze import summarize
    console.render(summarize(profkit.load(path), sidecar=side), console=Console(file=out, width=100))
    assert "timing quiet" in out.getvalue() or "timing noisy" in out.getvalue()
