"""Analytical GPT-2 model and roofline bounds, against hand-computed numbers."""

import pytest
from msgspec import to_builtins

from profkit.common.hardware import Device, match_device
from profkit.common.models import ModelShape, builtin_shape
from profkit.analysis.cost.roofline import estimate, roofline
from profkit.errors import ProfkitError
from profkit.runfiles.sidecar import capture_of

GPT2 = {"name": "gpt2", "source": "builtin", "n_layer": 12, "n_head": 12, "n_embd": 768,
        "n_positions": 1024, "vocab_size": 50257, "params": 124439808}


def sidecar(**kw):
    base = {"model": dict(GPT2), "mode": "eager", "device": {"type": "cuda", "name": "NVIDIA GeForce RTX 4090"},
            "dtype": "float16", "batch": 1, "prompt_len": 128, "new_tokens": 32,
            "timing": {"ttft_ms": 2.0, "decode_ms_per_token": 0.9, "tokens_per_s": 1111, "total_ms": 30.8}}
    base.update(kw)
    return capture_of(base)


def gpt2_params(n_layer, n_embd, vocab_size, n_positions):
    return ModelShape("gpt2", n_layer, n_embd, n_embd // 64, n_embd // 64, 64, 4 * n_embd, vocab_size,
                      n_positions, True).params()


def test_gpt2_parameter_counts():
    p = gpt2_params(12, 768, 50257, 1024)
    assert p == builtin_shape("gpt2").params()
    # wte 50257*768 + wpe 1024*768 + 12 layers * (12*768^2 + 13*768) + ln_f 2*768
    assert p["total"] == 38_597_376 + 786_432 + 12 * 7_087_872 + 1_536 == 124_439_808
    assert p["non_embedding"] == 85_056_000            # the "85M" of Kaplan et al.'s N
    assert p["embedding"] == 39_383_808
    # the other published sizes (HF model cards: 355M, 774M, 1.5B)
    assert gpt2_params(24, 1024, 50257, 1024)["total"] == 354_823_168
    assert gpt2_params(36, 1280, 50257, 1024)["total"] == 774_030_080
    assert gpt2_params(48, 1600, 50257, 1024)["total"] == 1_557_611_200


def test_weight_bytes_and_the_274_mb_figure():
    r = roofline(sidecar())
    assert r.weight_bytes == 124_439_808 * 2 == 248_879_616     # 248.9 MB in fp16
    # The published "274 MB" is half of the 548 MB fp32 checkpoint, which also stores
    # the 12 causal-mask buffers h.*.attn.bias (1x1x1024x1024 each) that older
    # transformers saved with the weights: (124,439,808 + 12*1024*1024) * 4 / 2.
    published = (124_439_808 + 12 * 1024 * 1024) * 4 / 2
    assert published / 1e6 == pytest.approx(274.05, abs=0.01)
    assert r.weight_bytes / 1e6 == pytest.approx(248.9, abs=0.05)


def test_kv_cache_bytes():
    # bytes * 2 (K, V) * n_layer * batch * h * (prompt + new)
    assert roofline(sidecar()).kv_cache_bytes == 2 * 2 * 12 * 1 * 768 * 160 == 5_898_240
    assert roofline(sidecar(batch=4, dtype="float32")).kv_cache_bytes == 4 * 2 * 12 * 4 * 768 * 160


def test_flops_per_phase():
    r = roofline(sidecar())
    layer_gemm = 12 * 12 * 768 * 768                   # weights multiplied per token
    lm_head = 50257 * 768
    # prefill: 128 tokens through the layers, causal attention over 1..128, logits for the last
    assert r.prefill.flops == 128 * 2 * layer_gemm + 2 * lm_head + 4 * 12 * 768 * (128 * 129 // 2)
    # decode: mean context over the 32 steps is 128 + 16.5
    ctx = 144.5
    assert r.decode_step.flops == pytest.approx(2 * layer_gemm + 2 * lm_head + 4 * 12 * 768 * ctx)
    assert r.decode_step.mean_context == ctx
    # ≈ 2 * params per token (the rule of thumb) within 2%
    assert r.decode_step.flops == pytest.approx(2 * 124_439_808, rel=0.02)


def test_decode_is_memory_bound_on_a_4090():
    r = roofline(sidecar(), match_device("NVIDIA GeForce RTX 4090"))
    d = r.decode_step
    # bytes: all weights but 1023 unused position rows, the mean KV cache, the logits
    weights = (124_439_808 - 1023 * 768) * 2
    kv = 144.5 * 2 * 12 * 768 * 2
    assert d.bytes == pytest.approx(weights + kv + 50257 * 2)
    assert d.bound == "memory"
    assert d.limit_ms == pytest.approx(d.bytes / 1008e9 * 1e3)
    assert 0.24 < d.limit_ms < 0.26                  # ≈ 0.25 ms/token, ≈ 4000 tokens/s
    assert d.pct_of_limit == pytest.approx(0.9 / d.limit_ms * 100)
    p = r.prefill
    assert p.limit_ms == pytest.approx(max(p.flops / 165.2e12, p.bytes / 1008e9) * 1e3)


def test_compute_bound_prefill_and_missing_peaks():
    big = sidecar(batch=64, prompt_len=512, dtype="bfloat16")
    r = roofline(big, match_device("NVIDIA H100 80GB HBM3"))
    assert r.prefill.bound == "compute"
    assert r.prefill.limit_ms == pytest.approx(r.prefill.flops / 989.4e12 * 1e3)
    only_bw = Device(name="x", bandwidth_gbs=100.0, tflops={})
    r = roofline(sidecar(), only_bw)
    assert r.decode_step.bound == "memory (other peak unknown)"
    r = roofline(sidecar(), None, reason="no CPU calibration found; run `profkit calibrate`")
    assert r.decode_step.limit_ms is None and "calibrate" in r.unavailable
    assert r.prefill.pct_of_limit is None and r.prefill.measured_ms == 2.0


def test_bad_sidecar():
    with pytest.raises(ProfkitError, match="n_layer"):
        roofline(sidecar(model={"name": "gpt2"}))
    with pytest.raises(ProfkitError, match="dtype"):
        roofline(sidecar(dtype="int8"))


def test_faster_than_the_limit_means_the_peaks_are_wrong():
    slow_cpu = Device(name="cpu (calibrated)", bandwidth_gbs=1.0, tflops={"fp32": 0.01}, source="test")
    r = roofline(sidecar(dtype="float32"), slow_cpu)
    assert r.decode_step.pct_of_limit < 100
    assert "peak figures are too low" in r.decode_step.warning
    assert roofline(sidecar(), match_device("NVIDIA GeForce RTX 4090")).decode_step.warning is None


def roofline_cli(capsys, *args):
    import json

    from profkit.cli import main

    with pytest.raises(SystemExit) as e:
        main(["roofline", *args])
    out = capsys.readouterr()
    return e.value.code, (json.loads(out.out) if "--json" in args and e.value.code == 0 else out.out), out.err


def test_roofline_command_reproduces_the_seed_4090_decode_figure(capsys):
    code, r, _ = roofline_cli(capsys, "--model", "gpt2", "--device", "RTX 4090", "--prompt-len", "128",
                              "--new-tokens", "32", "--dtype", "float16", "--json")
    assert code == 0 and r["device"]["name"] == "NVIDIA GeForce RTX 4090" and r["device"]["bandwidth_gbs"] == 1008
    d = r["decode_step"]
    # The seed's figure: 274 MB read per token at 1008 GB/s.
    seed = 274e6 / 1008e9 * 1e3
    assert seed == pytest.approx(0.27, abs=0.005)
    # fp16 weights alone: 124,439,808 x 2 B / 1008 GB/s.
    weights_only = 124_439_808 * 2 / 1008e9 * 1e3
    assert weights_only == pytest.approx(0.247, abs=0.001)
    # profkit: the weights a step reads (all but 1023 unused position rows) + the mean KV cache + logits.
    by_hand = ((124_439_808 - 1023 * 768) * 2 + 144.5 * 2 * 12 * 768 * 2 + 50257 * 2) / 1008e9 * 1e3
    assert d["limit_ms"] == pytest.approx(by_hand) and d["bound"] == "memory"
    assert weights_only < d["limit_ms"] < seed and d["limit_ms"] == pytest.approx(0.2507, abs=1e-4)
    assert d["memory_ms"] == d["limit_ms"] and d["compute_ms"] < d["memory_ms"]


def test_roofline_command_text_and_refusals(capsys, tmp_path):
    code, text, _ = roofline_cli(capsys, "--model", "llama-3.2-1b", "--device", "h100-sxm", "--batch", "4")
    assert code == 0 and "1,235,814,400 parameters, 8 K/V heads (G = 4)" in text
    # KV cache: 2 x 16 layers x 8 heads x 64 dims x 160 tokens x 2 B x batch 4
    assert f"{2 * 16 * 8 * 64 * 160 * 2 * 4:,} bytes for 640 tokens" in text
    assert "decode/token" in text and "NVIDIA H100 SXM5 80 GB" in text
    code, _, err = roofline_cli(capsys, "--model", "gpt5")
    assert code == 2 and err.startswith("profkit: error: unknown model 'gpt5'") and err.count("\n") == 1
    code, _, err = roofline_cli(capsys, "--device", "abacus")
    assert code == 2 and "unknown device 'abacus'" in err
    code, _, err = roofline_cli(capsys, "--device", "cpu", "--calibration", str(tmp_path / "none.json"))
    assert code == 2 and "profkit calibrate" in err
    code, r, _ = roofline_cli(capsys, "--json")  # no device: memory and FLOPs, no limits
    assert code == 0 and r["decode_step"]["limit_ms"] is None and r["unavailable"] == "no --device given"


def test_llama_family_by_hand():
    # Llama-3.2-1B, bf16, batch 2, prompt 100, 20 new tokens
    r = to_builtins(estimate(builtin_shape("llama-3.2-1b"), "bfloat16", 2, 100, 20))
    L, h, nh, kv, hd, inter, V = 16, 2048, 32, 8, 64, 8192, 128256
    assert r["kv_cache_bytes"] == 2 * L * kv * hd * (100 + 20) * 2 * 2
    layer = h * nh * hd + 2 * h * kv * hd + nh * hd * h + 3 * h * inter
    attn = 4 * L * nh * hd
    assert r["prefill"]["flops"] == 2 * (100 * 2 * L * layer + 2 * V * h + attn * 100 * 101 // 2)
    ctx = 100 + 21 / 2
    assert r["decode_step"]["flops"] == pytest.approx(2 * (2 * L * layer + 2 * V * h + attn * ctx))
    # Tied embedding: the lm_head read is the embedding read; nothing else of it.
    non_embedding = 1_235_814_400 - V * h
    assert r["decode_step"]["bytes"] == pytest.approx((non_embedding + V * h) * 2
                                                      + 2 * ctx * 2 * L * kv * hd * 2 + 2 * V * 2)
    # Untied (TinyLlama): the lm_head is read whole, the embedding only in the rows gathered.
    t = to_builtins(estimate(builtin_shape("tinyllama-1.1b"), "float16", 1, 10, 1))
    assert t["prefill"]["bytes"] == (1_100_048_384 - 32000 * 2048 + 10 * 2048) * 2 + 10 * 2 * 22 * 4 * 64 * 2 + 32000 * 2


def test_estimate_is_typed():
    e = estimate(builtin_shape("gpt2"), "float16", 1, 128, 32, device=match_device("NVIDIA GeForce RTX 4090"))
    assert e.decode_step.bound == "memory" and e.decode_step.limit_ms == e.decode_step.memory_ms
    assert e.decode_step.mean_context == 144.5
    # A capture's roofline is the same estimate, named after its model, with the sidecar's reported count.
    r = roofline(sidecar(timing={}), match_device("NVIDIA GeForce RTX 4090"))
    skip = ("model", "params")
    assert {k: v for k, v in to_builtins(e).items() if k not in skip} == \
        {k: v for k, v in to_builtins(r).items() if k not in skip}
    assert e.params.total == r.params.total == 124_439_808


def test_gqa_sidecar_roofline_uses_the_kv_heads():
    grouped = sidecar(model=dict(GPT2, kv_groups=4, n_kv_head=3))
    r = roofline(grouped)
    assert r.kv_cache_bytes == 2 * 2 * 12 * 1 * 3 * 64 * 160   # a quarter of G = 1's
    assert r.kv_cache_bytes * 4 == roofline(sidecar()).kv_cache_bytes
    assert r.params.total == 124_439_808 - 12 * 2 * (768 * 576 + 576)  # K and V columns and biases shrink
