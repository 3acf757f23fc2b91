"""Analytical model of a profkit GPT-2 capture and its roofline lower bounds.

From the capture's sidecar (model config, batch, prompt length, new tokens, dtype)
and the device's peaks: parameter count, weight and KV-cache bytes, FLOPs and bytes
of the prefill pass and of one decode step, and the lower bound on their latency
max(FLOPs / peak FLOP/s, bytes / peak bandwidth) (Williams, Waterman & Patterson,
"Roofline", CACM 2009). The measured TTFT and per-token latency are reported as a
percentage of that bound: 100% means running at the hardware limit, 400% four
times slower than it.

Conventions (Kaplan et al., "Scaling Laws for Neural Language Models", 2020, sec.
2.1; Pope et al., "Efficiently Scaling Transformer Inference", 2022, sec. 2):
- a matrix product costs 2 FLOPs per weight per token: per layer 12·h² weights
  (QKV 3h², output projection h², MLP 8h² with the GPT-2 default inner size 4h),
  plus the lm_head (vocab·h, tied to the token embedding) for the one position whose
  logits are kept (generation passes logits_to_keep=1). Biases, norms and GELU are
  O(h) per token and left out, so the count is ≈ 2·params per token.
- attention adds 4·n_layer·context·h FLOPs per token (QKᵀ and scores·V); causal
  prefill sums context = 1..S.
- the KV cache holds bytes·2·n_layer·batch·h·(prompt + new tokens) at its peak.
- bytes moved: every weight read once per pass (a lower bound: nothing is assumed
  to stay in cache between passes), the KV cache read (decode) or written (prefill),
  the kept logits written; other activations can stay on chip and are left out.
"""

from profkit.analysis.result import Roofline, RooflineDevice, RooflineParams, RooflinePhase
from profkit.errors import ProfkitError

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def gpt2_params(n_layer, n_embd, vocab_size, n_positions):
    """Parameter counts of GPT2LMHeadModel (lm_head tied to wte, counted once)."""
    h = n_embd
    per_layer = 12 * h * h + 13 * h  # c_attn 3h²+3h, c_proj h²+h, c_fc 4h²+4h, mlp proj 4h²+h, 2 norms 4h
    embedding = vocab_size * h + n_positions * h
    total = embedding + n_layer * per_layer + 2 * h  # + ln_f
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding,
            "per_layer": per_layer}


def _field(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            raise ProfkitError(f"capture metadata lacks {'.'.join(keys)}")
        d = d[k]
    return d


def _count(d, *keys):
    """A positive integer field of the sidecar (model sizes, batch, token counts)."""
    v = _field(d, *keys)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ProfkitError(f"capture metadata has {'.'.join(keys)} = {v!r}, not a whole number")
    return v


def _phase(flops, nbytes, device, dtype, measured_ms):
    measured_ms = float(measured_ms) if isinstance(measured_ms, (int, float)) and not isinstance(measured_ms, bool) \
        else None
    out = RooflinePhase(flops=float(flops), bytes=float(nbytes), limit_ms=None, bound=None,
                        measured_ms=measured_ms, pct_of_limit=None)
    if device is None:
        return out
    tflops = device.peak_tflops(dtype)
    t_flops = flops / (tflops * 1e12) if tflops else None
    t_bytes = nbytes / (device.bandwidth_gbs * 1e9) if device.bandwidth_gbs else None
    # Without one of the two peaks the bound is still a bound, just a looser one.
    known = [t for t in (t_flops, t_bytes) if t is not None]
    if not known:
        return out
    limit = max(known)
    out.limit_ms = limit * 1e3
    out.bound = "compute" if t_flops is not None and limit == t_flops else "memory"
    if t_flops is None or t_bytes is None:
        out.bound += " (other peak unknown)"
    if measured_ms is not None and measured_ms > 0 and limit > 0:
        out.pct_of_limit = measured_ms / (limit * 1e3) * 100
        if out.pct_of_limit < 100:
            # Faster than a lower bound is impossible: the peaks are what is wrong.
            out.warning = ("measured faster than the limit: the peak figures are too low "
                              "(on a CPU, re-run `profkit calibrate` on an idle machine)")
    return out


def roofline(sidecar, device=None, reason=None):
    """The Roofline of a capture; `device` is a hardware.Device or None.

    `reason` explains a missing device (shown as "unavailable").
    """
    m = _field(sidecar, "model")
    L, h = _count(m, "n_layer"), _count(m, "n_embd")
    V, P = _count(m, "vocab_size"), _count(m, "n_positions")
    dtype = _field(sidecar, "dtype")
    if dtype not in DTYPE_BYTES:
        raise ProfkitError(f"capture metadata has an unknown dtype {dtype!r}")
    b = DTYPE_BYTES[dtype]
    B, S, N = _count(sidecar, "batch"), _count(sidecar, "prompt_len"), _count(sidecar, "new_tokens")
    params = gpt2_params(L, h, V, P)
    timing = sidecar.get("timing") if isinstance(sidecar.get("timing"), dict) else {}

    matmul_weights = L * 12 * h * h              # per-token GEMM weights of the layers
    lm_head = V * h
    kv_per_token = 2 * L * h * b                 # K and V of one token, all layers
    # Weights a pass must read: everything but the position rows it does not use.
    prefill_weights = (params["total"] - P * h + S * h) * b
    step_weights = (params["total"] - P * h + h) * b

    prefill_flops = B * (S * 2 * matmul_weights + 2 * lm_head + 4 * L * h * S * (S + 1) // 2)
    prefill_bytes = prefill_weights + B * S * kv_per_token + B * V * b
    ctx = S + (N + 1) / 2                        # mean context of the N decode steps
    decode_flops = B * (2 * matmul_weights + 2 * lm_head + 4 * L * h * ctx)
    decode_bytes = step_weights + B * ctx * kv_per_token + B * V * b

    dev = None if device is None else RooflineDevice(
        name=device.name, bandwidth_gbs=device.bandwidth_gbs, peak_tflops=device.peak_tflops(dtype),
        source=device.source, note=device.note)
    decode = _phase(decode_flops, decode_bytes, device, dtype, timing.get("decode_ms_per_token"))
    decode.mean_context = float(ctx)
    reported = m.get("params")
    return Roofline(
        model=str(m["name"]) if m.get("name") is not None else None, dtype=dtype, batch=B, prompt_len=S,
        new_tokens=N,
        params=RooflineParams(**params, reported=reported if isinstance(reported, int) else None),
        weight_bytes=params["total"] * b,
        kv_cache_bytes=b * 2 * L * B * h * (S + N),
        prefill=_phase(prefill_flops, prefill_bytes, device, dtype, timing.get("ttft_ms")),
        decode_step=decode,
        device=dev,
        unavailable=None if device is not None else (reason or "no peak figures for this device"),
    )
