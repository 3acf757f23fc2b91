"""profkit capture end to end: the real gpt2 config (eager) and torch.compile on a tiny config."""

import gzip
import json
from datetime import datetime

import pytest
import torch

from profkit.capture.generate import EagerDecoder, synthetic_prompt
from profkit.capture.models import ModelSpec, build_model
from profkit.capture.modes import make_decoder
from profkit.runfiles.manifest import read_manifest
from tests.helpers.cli import capture
from tests.helpers.models import tiny_gpt2_config

SIDECAR_KEYS = {"schema", "model", "mode", "compile", "device", "dtype", "batch", "prompt_len", "new_tokens",
                "warmup", "steps", "seed", "timing", "peak_memory_bytes", "peak_memory_kind", "output_tokens", "versions",
                "command", "trace", "created", "peaks"}


def load(out, stem):
    with gzip.open(out / f"{stem}.json.gz", "rt") as f:  # gzip and JSON both valid
        trace = json.load(f)
    return trace, json.loads((out / f"{stem}.meta.json").read_text())


def x_events(trace):
    return [e for e in trace["traceEvents"] if e.get("ph") == "X"]


def within(events, region):
    return [e for e in events if region["ts"] <= e["ts"] and e["ts"] + e["dur"] <= region["ts"] + region["dur"]]


@pytest.mark.slow
def test_gpt2_eager_end_to_end(tmp_path, calibrated):
    out = tmp_path / "traces"
    r = capture("--model", "gpt2", "--mode", "eager", "--device", "cpu", "--batch", "2", "--prompt-len", "24",
                "--new-tokens", "5", "--warmup", "1", "--steps", "2", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["gpt2-eager-b2-s24.json.gz", "gpt2-eager-b2-s24.meta.json",
                                                     "run.json"]
    assert "TTFT" in r.stdout and "eager" in r.stdout
    trace, meta = load(out, "gpt2-eager-b2-s24")

    events = x_events(trace)
    notes = [e for e in events if e.get("cat") == "user_annotation"]
    assert [e["name"] for e in notes if e["name"].startswith("ProfilerStep#")] == ["ProfilerStep#1", "ProfilerStep#2"]
    prefills = [e for e in notes if e["name"] == "prefill"]
    decodes = [e for e in notes if e["name"] == "decode"]
    assert len(prefills) == len(decodes) == 2
    ops = [e for e in events if e.get("cat") == "cpu_op"]
    # One greedy argmax per forward pass: 1 in the prompt pass, new_tokens in decode.
    for p, d in zip(prefills, decodes):
        assert p["ts"] + p["dur"] <= d["ts"]
        assert sum(e["name"] == "aten::argmax" for e in within(ops, p)) == 1
        assert sum(e["name"] == "aten::argmax" for e in within(ops, d)) == 5
    # Shapes reach the trace: the QKV projection sees batch*prompt rows in prefill, batch rows in decode.
    addmm_dims = [e["args"]["Input Dims"] for e in within(ops, prefills[0]) if e["name"] == "aten::addmm"]
    assert [2304] in addmm_dims[0] and [48, 768] in addmm_dims[0] and [768, 2304] in addmm_dims[0]
    decode_dims = [e["args"]["Input Dims"] for e in within(ops, decodes[0]) if e["name"] == "aten::addmm"]
    assert [2, 768] in decode_dims[0]
    # 12 layers x 4 projections (QKV, attn out, MLP up, MLP down) per forward.
    assert len(addmm_dims) == 48 and len(decode_dims) == 48 * 5
    assert trace["profkit"]["mode"] == "eager"

    assert SIDECAR_KEYS <= set(meta)
    assert meta["schema"] == "profkit.capture/1" and meta["mode"] == "eager" and meta["compile"] is None
    expected_model = {"name": "gpt2", "source": "builtin", "family": "gpt2", "n_layer": 12, "n_head": 12,
                      "n_kv_head": 12, "kv_groups": 1, "head_dim": 64, "n_embd": 768, "intermediate_size": 3072,
                      "n_positions": 1024, "vocab_size": 50257, "tie_word_embeddings": True, "params": 124439808}
    assert {k: meta["model"][k] for k in expected_model} == expected_model
    assert meta["device"]["type"] == "cpu" and meta["device"]["name"]
    assert (meta["batch"], meta["prompt_len"], meta["new_tokens"], meta["warmup"], meta["steps"]) == (2, 24, 5, 1, 2)
    assert meta["dtype"] == "float32" and meta["seed"] == 0
    t = meta["timing"]
    assert 0 < t["ttft_ms"] < t["total_ms"]
    # tokens/s has two decimals: below 1 token/s (a loaded machine) that is the precision
    assert t["tokens_per_s"] == pytest.approx(2 * 1000 / t["decode_ms_per_token"], rel=1e-3, abs=0.005)
    assert meta["peak_memory_kind"] == "rss_hwm" and meta["peak_memory_bytes"] > 124439808 * 4  # fp32 weights
    assert meta["versions"]["torch"] == torch.__version__ and meta["versions"]["transformers"]
    assert "--model gpt2" in meta["command"] and "--mode eager" in meta["command"]
    assert meta["trace"] == "gpt2-eager-b2-s24.json.gz"
    assert datetime.fromisoformat(meta["created"]).tzinfo is not None


def test_compiled_decoder_gives_eager_tokens():
    model = build_model(ModelSpec("tiny", "test", tiny_gpt2_config(), None), "float32", torch.device("cpu"), 0)
    prompt = synthetic_prompt(2, 8, 97, seed=0, device=torch.device("cpu"))
    tokens = []
    for decoder in (EagerDecoder(model), make_decoder("compiled", model, 2, 8 + 6)[0]):
        with torch.inference_mode():
            decoder.reset()
            first = decoder.prefill(prompt)
            tokens.append(torch.cat([first, decoder.decode(first, 6)], dim=1))
    assert torch.equal(tokens[0], tokens[1])
    assert len(set(tokens[0].flatten().tolist())) > 3


def test_eager_and_compiled_into_one_folder(tmp_path, calibrated):
    ckpt = tmp_path / "tiny"
    ckpt.mkdir()
    tiny_gpt2_config().to_json_file(ckpt / "config.json")
    out = tmp_path / "out"
    r = capture("--model", str(ckpt), "--mode", "eager,compiled", "--device", "cpu", "--prompt-len", "8",
                "--new-tokens", "4", "--warmup", "1", "--steps", "2", "--out", str(out))
    assert "compile" in r.stderr  # the progress display named the compile phase
    assert sorted(p.name for p in out.iterdir()) == [
        "run.json", "tiny-compiled-b1-s8.json.gz", "tiny-compiled-b1-s8.meta.json",
        "tiny-eager-b1-s8.json.gz", "tiny-eager-b1-s8.meta.json",
    ]
    manifest = read_manifest(out / "run.json")
    assert [(m.mode, m.trace, m.sidecar) for m in manifest.modes] == [
        ("eager", "tiny-eager-b1-s8.json.gz", "tiny-eager-b1-s8.meta.json"),
        ("compiled", "tiny-compiled-b1-s8.json.gz", "tiny-compiled-b1-s8.meta.json")]
    assert manifest.shapes == {"batch": 1, "prompt_len": 8, "new_tokens": 4} and manifest.model == "tiny"
    trace, meta = load(out, "tiny-compiled-b1-s8")
    assert meta["compile"]["backend"] == "inductor" and meta["compile"]["compile_s"] > 0
    assert meta["model"]["source"] == str(ckpt) and meta["model"]["n_layer"] == 2
    events = x_events(trace)
    names = [e["name"] for e in events]
    assert names.count("prefill") == 2 and names.count("decode") == 2
    decode = next(e for e in events if e["name"] == "decode")
    inside = [e["name"] for e in within(events, decode)]
    # Each decode step is one call of the compiled decode graph, whose generated
    # C++ kernels show up as named regions (cpp.enable_kernel_profile).
    assert sum(n.startswith("Torch-Compiled Region") for n in inside) == 4
    assert any("cpp_fused" in n for n in inside)
    eager_trace, _ = load(out, "tiny-eager-b1-s8")
    assert not any("cpp_fused" in e["name"] for e in x_events(eager_trace))
