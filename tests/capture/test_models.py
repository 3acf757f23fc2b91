"""The built-in model table and the Llama family in capture: parameter counts three ways, GQA caches, refusals."""

import json
import re
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from profkit.common.models import BUILTIN, ModelShape, builtin_shape
from profkit.analysis.cost.roofline import estimate
from profkit.capture.config import CaptureConfig
from profkit.capture.generate import EagerDecoder, StaticDecoder, synthetic_prompt
from profkit.capture.models import ModelSpec, build_model, check_fits, describe, resolve_model, with_kv_groups
from profkit.capture.modes import make_decoder
from profkit.cli import main
from profkit.errors import OutOfMemory, ProfkitError
from tests.helpers.models import generate_tokens as tokens
from tests.helpers.models import recompute_tokens as recompute

CPU = torch.device("cpu")

# The published counts, restated from the model pages so the table cannot drift silently:
# (exact, the rounded figure the card prints, its unit).
PUBLISHED = {
    "gpt2": (124_439_808, 124, 1e6), "gpt2-medium": (354_823_168, 355, 1e6),
    "gpt2-large": (774_030_080, 774, 1e6), "gpt2-xl": (1_557_611_200, 1558, 1e6),
    "llama-3.2-1b": (1_235_814_400, 1.23, 1e9), "llama-3.2-3b": (3_212_749_824, 3.21, 1e9),
    "qwen2.5-0.5b": (494_032_768, 0.49, 1e9), "qwen2.5-1.5b": (1_543_714_304, 1.54, 1e9),
    "tinyllama-1.1b": (1_100_048_384, 1.1, 1e9), "mistral-7b": (7_248_023_552, 7.25, 1e9),
}


def hand_count(c):
    """Parameters of a Llama/Qwen2/Mistral config.json, written out layer by layer."""
    h, heads, kv, inter = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"]
    hd = c.get("head_dim", h // heads)
    q, k = heads * hd, kv * hd
    attn = h * q + h * k + h * k + q * h + (q + 2 * k if c["model_type"] == "qwen2" else 0)
    mlp = h * inter + h * inter + inter * h          # gate, up, down
    layer = attn + mlp + h + h                        # input and post-attention RMSNorm
    head = 0 if c["tie_word_embeddings"] else c["vocab_size"] * h
    return c["vocab_size"] * h + c["num_hidden_layers"] * layer + h + head


@pytest.mark.parametrize("name", list(BUILTIN))
def test_builtin_parameter_counts_match_the_published_ones(name):
    source, published, where, config = BUILTIN[name]
    exact, rounded, unit = PUBLISHED[name]
    # Cards round (GPT-2's 355M) or truncate (Meta's 1.23B for 1.2358e9) to their last digit.
    assert published == exact and abs(exact / unit - rounded) < (0.01 if unit == 1e9 else 1)
    assert source.startswith("https://huggingface.co/") and where
    shape = builtin_shape(name)
    assert shape.params()["total"] == exact
    if config["model_type"] != "gpt2":
        assert hand_count(config) == exact
    # And a third way: transformers builds the model (on the meta device: no memory) and counts.
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(resolve_model(name).config)
    assert sum(p.numel() for p in net.parameters()) == exact


def test_qwen_non_embedding_counts_match_the_card():
    assert round(builtin_shape("qwen2.5-0.5b").params()["non_embedding"] / 1e9, 2) == 0.36
    assert round(builtin_shape("qwen2.5-1.5b").params()["non_embedding"] / 1e9, 2) == 1.31


def test_table_shapes():
    s = builtin_shape("llama-3.2-1b")
    assert (s.n_layer, s.n_embd, s.n_head, s.n_kv_head, s.head_dim, s.kv_groups) == (16, 2048, 32, 8, 64, 4)
    assert builtin_shape("mistral-7b").tie_word_embeddings is False and builtin_shape("qwen2.5-0.5b").kv_groups == 7
    spec = resolve_model("llama-3.2-1b")
    assert spec.config.rope_parameters["rope_theta"] == 500000.0 and spec.config.max_position_embeddings == 131072


def tiny_llama(**kw):
    """8 query heads, 2 K/V heads (G = 4); initializer_range 0.5 so greedy tokens vary."""
    args = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.5, tie_word_embeddings=False,
                bos_token_id=0, eos_token_id=0)
    args.update(kw)
    return LlamaConfig(**args)


def tiny_spec():
    return ModelSpec("tiny-llama", "test", tiny_llama(), None)


def cache_bytes(cache):
    return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))


def test_tiny_llama_static_cache_and_counts():
    spec = tiny_spec()
    net = build_model(spec, "float32", CPU, 0)
    entry = describe(spec, net)
    assert entry["family"] == "llama" and entry["n_kv_head"] == 2 and entry["kv_groups"] == 4
    assert entry["params"] == spec.shape.params()["total"] == hand_count(tiny_llama().to_dict())
    prompt = synthetic_prompt(2, 8, 97, seed=0, device=CPU)
    eager = tokens(EagerDecoder(net), prompt, 10)
    static = StaticDecoder(net, 2, 8 + 10)
    assert torch.equal(tokens(static, prompt, 10), eager)
    assert torch.equal(eager, recompute(net, prompt, 10))
    assert len(set(eager.flatten().tolist())) > 4
    # The static cache holds 2 K/V heads of 8 dims for 18 positions: exactly the roofline's figure.
    assert static.cache.layers[0].keys.shape == (2, 2, 18, 8)
    by_hand = 2 * 2 * 2 * 8 * 18 * 4 * 2                # K,V x layers x kv heads x head dim x tokens x 4 B x batch
    assert cache_bytes(static.cache) == by_hand == estimate(spec.shape, "float32", 2, 8, 10).kv_cache_bytes


def test_tiny_llama_compiled_gives_eager_tokens():
    net = build_model(tiny_spec(), "float32", CPU, 0)
    prompt = synthetic_prompt(1, 6, 97, seed=2, device=CPU)
    eager = tokens(EagerDecoder(net), prompt, 4)
    assert torch.equal(tokens(make_decoder("compiled", net, 1, 6 + 4)[0], prompt, 4), eager)


def test_kv_groups_on_a_llama_config():
    spec = tiny_spec()
    assert with_kv_groups(spec, 4) is spec and with_kv_groups(spec, None) is spec
    mha = with_kv_groups(spec, 1)
    assert mha.name == "tiny-llama-kv1" and mha.config.num_key_value_heads == 8 and mha.shape.kv_groups == 1
    assert spec.config.num_key_value_heads == 2  # the original is untouched
    with pytest.raises(ProfkitError, match="does not divide"):
        with_kv_groups(spec, 3)


def test_kv_groups_refused_for_trained_llama_weights(tmp_path):
    build_model(tiny_spec(), "float32", CPU, 0).save_pretrained(tmp_path / "ckpt")
    spec = resolve_model(str(tmp_path / "ckpt"))
    assert spec.weights is not None and spec.family == "llama"
    with pytest.raises(ProfkitError, match="trained weights have 2 K/V heads"):
        with_kv_groups(spec, 1)


@pytest.mark.parametrize("cls,arch", [("qwen2", "Qwen2ForCausalLM"), ("mistral", "MistralForCausalLM")])
def test_other_families_from_a_config_json(tmp_path, cls, arch):
    raw = tiny_llama().to_dict() | {"model_type": cls, "architectures": [arch]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    spec = resolve_model(str(path))
    net = build_model(spec, "float32", CPU, 0)
    assert type(net).__name__ == arch
    assert describe(spec, net)["params"] == spec.shape.params()["total"] == hand_count(raw)


def test_a_model_too_large_is_refused_before_building(monkeypatch):
    spec = resolve_model("mistral-7b")
    monkeypatch.setattr("profkit.capture.models.available_memory", lambda dev: (8 * 10**9, "this machine"))
    with pytest.raises(OutOfMemory) as e:
        check_fits(spec, CaptureConfig(), CPU)
    kv = 128 + 32
    want = 7_248_023_552 * 4 + kv * 2 * 32 * 8 * 128 * 4
    assert str(e.value) == (f"mistral-7b needs {want / 1e9:.1f} GB in float32 (weights 29.0 GB + KV cache "
                            f"0.0 GB) but this machine has 8.0 GB available")
    check_fits(resolve_model("gpt2"), CaptureConfig(), CPU)  # 0.5 GB fits


def test_cli_refuses_a_too_large_model_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("profkit.capture.models.available_memory", lambda dev: (10**9, "this machine"))
    with pytest.raises(SystemExit) as e:
        main(["capture", "--model", "llama-3.2-3b", "--device", "cpu", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert re.match(r"profkit: error: llama-3.2-3b needs 12\.9 GB in float32 .* but this machine has 1\.0 GB", err)
    assert not (tmp_path / "o").exists()


def test_capture_help_lists_the_models():
    r = subprocess.run([sys.executable, "-m", "profkit", "capture", "--help"], capture_output=True, text=True)
    text = " ".join(r.stdout.split())
    for name in BUILTIN:
        assert name in text


def test_shape_from_old_gpt2_sidecars():
    old = {"name": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257,
           "kv_groups": 3}
    s = ModelShape.from_sidecar(old)
    assert (s.family, s.n_kv_head, s.head_dim, s.intermediate_size, s.tie_word_embeddings) == ("gpt2", 4, 64, 3072, True)
    with pytest.raises(ProfkitError, match="unknown model family"):
        ModelShape.from_sidecar(old | {"family": "t5"})


@pytest.mark.slow
def test_tiny_llama_captures_eager_and_compiled_and_analysis_reports_its_kv_cache(tmp_path):
    ckpt = tmp_path / "tiny-llama"
    ckpt.mkdir()
    tiny_llama().to_json_file(ckpt / "config.json")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "profkit", "capture", "--model", str(ckpt), "--mode", "eager,compiled",
                        "--device", "cpu", "--batch", "2", "--prompt-len", "8", "--new-tokens", "4", "--warmup", "1",
                        "--steps", "1", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    metas = {}
    for mode in ("eager", "compiled"):
        meta = metas[mode] = json.loads((out / f"tiny-llama-{mode}-b2-s8.meta.json").read_text())
        assert meta["model"]["family"] == "llama" and meta["model"]["n_kv_head"] == 2
        a = subprocess.run([sys.executable, "-m", "profkit", "analyze", "--json",
                            str(out / f"tiny-llama-{mode}-b2-s8.json.gz")], capture_output=True, text=True)
        assert a.returncode == 0, a.stderr
        roof = json.loads(a.stdout)["roofline"]
        # 2 (K, V) x 2 layers x 2 K/V heads x 8 head dims x (8 + 4) tokens x 4 bytes x batch 2
        assert roof["kv_cache_bytes"] == 2 * 2 * 2 * 8 * 12 * 4 * 2 == 6144
        assert roof["params"]["total"] == roof["params"]["reported"] == hand_count(tiny_llama().to_dict())
    assert meta["compile"]["backend"] == "inductor"
    # Both modes generated the same greedy tokens (first token + 4 new, for both sequences).
    assert metas["eager"]["output_tokens"] == metas["compiled"]["output_tokens"]
    assert len(metas["eager"]["output_tokens"]["first"]) == 5


def test_sweep_over_kv_groups_of_a_llama_config(tmp_path):
    import csv

    from profkit.sweep.grid import make_plan
    from profkit.sweep.run import run_sweep

    path = tmp_path / "tiny-llama.json"
    tiny_llama().to_json_file(path)
    fast = {"device": "cpu", "warmup": 0, "steps": 1, "models": str(path), "prompt_lens": "8", "new_tokens": 2}
    assert [p.kv_groups for p in make_plan("gpt2", **fast).points] == [4]  # the model's own G by default
    with pytest.raises(ProfkitError, match="--kv-groups 3 does not divide tiny-llama's 8 attention heads"):
        make_plan("gpt2", kv_groups="1,3", **fast)
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"bandwidth_gbs": 10.0, "tflops": {"fp32": 0.05}}))
    out = tmp_path / "sweep"
    run_sweep(make_plan("gpt2", kv_groups="1,4", **fast), out, calibration=calibration)
    with open(out / "results.csv", newline="") as f:
        rows = {r["kv_groups"]: r for r in csv.DictReader(f)}
    assert rows["1"]["status"] == rows["4"]["status"] == "ok"
    for g, kv_heads in (("1", 8), ("4", 2)):
        # K,V x 2 layers x K/V heads x 8 dims x (8 + 2) tokens x 4 bytes, in MiB
        assert float(rows[g]["kv_cache_mib"]) == pytest.approx(2 * 2 * kv_heads * 8 * 10 * 4 / 2**20, rel=1e-5)
        assert float(rows[g]["ttft_limit_ms"]) > 0 and float(rows[g]["decode_limit_ms"]) > 0
    assert float(rows["4"]["decode_limit_ms"]) < float(rows["1"]["decode_limit_ms"])


def test_capture_cli_kv_groups(tmp_path):
    cfg = tmp_path / "tiny-llama"
    cfg.mkdir()
    tiny_llama().to_json_file(cfg / "config.json")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "profkit", "capture", "--model", str(cfg), "--mode", "eager",
                        "--device", "cpu", "--kv-groups", "8", "--prompt-len", "4", "--new-tokens", "2",
                        "--warmup", "0", "--steps", "1", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "tiny-llama-kv8-eager-b1-s4.meta.json").read_text())
    assert (meta["model"]["n_kv_head"], meta["model"]["kv_groups"]) == (1, 8)
    assert "--kv-groups 8" in meta["command"]
