"""Analytical model of a decoder's generation and its roofline lower bounds.

From a model shape (profkit.common.models.ModelShape), batch, prompt length,
new tokens and dtype, plus the device's peaks: parameter count, weight and KV-cache
bytes, FLOPs and bytes of the prefill pass and of one decode step, and the lower
bound on their latency max(FLOPs / peak FLOP/s, bytes / peak bandwidth) (Williams,
Waterman & Patterson, "Roofline", CACM 2009). A capture's measured TTFT and
per-token latency are reported as a percentage of that bound: 100% means running
at the hardware limit, 400% four times slower than it.

Conventions (Kaplan et al., "Scaling Laws for Neural Language Models", 2020, sec.
2.1; Pope et al., "Efficiently Scaling Transformer Inference", 2022, sec. 2):
- a matrix product costs 2 FLOPs per weight per token: per layer the Q, K, V and
  output projections (K and V have n_kv_head heads: grouped-query attention) and
  the MLP (two matrices for GPT-2, three for SwiGLU), plus the lm_head (vocab·h)
  for the one position whose logits are kept (generation passes logits_to_keep=1).
  Biases, norms and activations are O(h) per token and left out: ≈ 2·params per token.
- attention adds 4·n_layer·n_head·head_dim·context FLOPs per token (QKᵀ and
  scores·V; every query head does its own, shared K/V or not); causal prefill
  sums context = 1..S.
- the KV cache holds 2·n_layer·n_kv_head·head_dim·bytes per token, for
  batch·(prompt + new tokens) tokens at its peak.
- bytes moved: every weight read once per pass (a lower bound: nothing is assumed
  to stay in cache between passes) except the embedding rows a pass does not
  gather, the KV cache read (decode) or written (prefill), the kept logits
  written; other activations can stay on chip and are left out.
"""

import msgspec

from profkit.analysis.result import Roofline, RooflineDevice, RooflineParams, RooflinePhase
from profkit.common.dtypes import DTYPE_BYTES
from profkit.common.models import ModelShape
from profkit.errors import ProfkitError


def _field(capture, key):
    value = getattr(capture, key)
    if value is None:
        raise ProfkitError(f"capture metadata lacks {key}")
    return value


def _count(capture, key):
    """A whole-number field of the sidecar (batch, token counts)."""
    v = _field(capture, key)
    if v < 0:
        raise ProfkitError(f"capture metadata has {key} = {v!r}, not a whole number")
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
    out.compute_ms = None if t_flops is None else t_flops * 1e3
    out.memory_ms = None if t_bytes is None else t_bytes * 1e3
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


def roofline(capture, device=None, reason=None):
    """The Roofline of a capture (its runfiles.sidecar.Capture); `device` is a hardware.Device or None.

    `reason` explains a missing device (shown as "unavailable").
    """
    m = _field(capture, "model")
    shape = ModelShape.from_sidecar({k: v for k, v in msgspec.structs.asdict(m).items() if v is not None})
    B, S, N = _count(capture, "batch"), _count(capture, "prompt_len"), _count(capture, "new_tokens")
    timing = capture.timing
    out = estimate(shape, _field(capture, "dtype"), B, S, N, device=device, reason=reason,
                   ttft_ms=timing.ttft_ms if timing else None, decode_ms=timing.decode_ms_per_token if timing else None)
    out.params.reported = m.params
    out.model = m.name
    return out


def estimate(shape, dtype, batch, prompt_len, new_tokens, *, device=None, reason=None, ttft_ms=None,
             decode_ms=None):
    """Memory, FLOPs and limits (a Roofline) of a generation of `shape` (a ModelShape), no capture needed.

    ttft_ms / decode_ms: measured times to compare with the limits, if any.
    """
    if dtype not in DTYPE_BYTES:
        raise ProfkitError(f"unknown dtype {dtype!r}; choose {', '.join(DTYPE_BYTES)}")
    b, B, S, N = DTYPE_BYTES[dtype], batch, prompt_len, new_tokens
    h, V = shape.n_embd, shape.vocab_size
    params = shape.params()
    matmul_weights = shape.n_layer * shape.layer_matmul_weights()  # per-token GEMM weights of the layers
    attention = 4 * shape.n_layer * shape.n_head * shape.head_dim   # FLOPs per token per context position
    kv_per_token = shape.kv_bytes_per_token(b)

    def weights_read(tokens, positions):
        # Layers, final norm and the lm_head are read whole; an untied embedding only in
        # the rows gathered, GPT-2's position table only in the positions used.
        gathered = 0 if shape.tie_word_embeddings else min(tokens, V) * h
        return (params["non_embedding"] + V * h + gathered + (positions * h if shape.gpt2 else 0)) * b

    prefill_flops = B * (S * 2 * matmul_weights + 2 * V * h + attention * S * (S + 1) // 2)
    prefill_bytes = weights_read(B * S, S) + B * S * kv_per_token + B * V * b
    ctx = S + (N + 1) / 2                        # mean context of the N decode steps
    decode_flops = B * (2 * matmul_weights + 2 * V * h + attention * ctx)
    decode_bytes = weights_read(B, 1) + B * ctx * kv_per_token + B * V * b

    dev = None if device is None else RooflineDevice(
        name=device.name, bandwidth_gbs=device.bandwidth_gbs, peak_tflops=device.peak_tflops(dtype),
        source=device.source, note=device.note)
    decode = _phase(decode_flops, decode_bytes, device, dtype, decode_ms)
    decode.mean_context = float(ctx)
    return Roofline(
        model=None, dtype=dtype, batch=B, prompt_len=S, new_tokens=N,
        params=RooflineParams(total=params["total"], embedding=params["embedding"],
                              non_embedding=params["non_embedding"], per_layer=params["per_layer"], reported=None,
                              lm_head=params["lm_head"]),
        weight_bytes=params["total"] * b, kv_cache_bytes=B * (S + N) * kv_per_token,
        prefill=_phase(prefill_flops, prefill_bytes, device, dtype, ttft_ms), decode_step=decode,
        device=dev, unavailable=None if device is not None else (reason or "no peak figures for this device"),
        family=shape.family, n_kv_head=shape.n_kv_head, kv_groups=shape.kv_groups)
