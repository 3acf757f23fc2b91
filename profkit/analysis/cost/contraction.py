"""FLOPs and bytes of contractions, attention and convolution (see flops.py)."""

import math

from profkit.analysis.cost.shapes import (SCALAR_TYPE_BYTES, Cost, broadcast, concrete_value,
                                     nbytes, need, opt)


# --- contractions -------------------------------------------------------------------

def _mm(t, c, n):
    a, b = need(t, 0, 1)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        return None
    (m, k), nn = a.shape, b.shape[1]
    return Cost(2 * m * k * nn, nbytes(a, b) + m * nn * a.itemsize, "gemm")


def _addmm(t, c, n):
    bias, a, b = need(t, 0, 1, 2)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        return None
    (m, k), nn = a.shape, b.shape[1]
    return Cost(2 * m * k * nn + m * nn, nbytes(bias, a, b) + m * nn * a.itemsize, "gemm")


def _bmm(t, c, n):
    a, b = need(t, 0, 1)
    if len(a.shape) != 3 or len(b.shape) != 3 or a.shape[2] != b.shape[1] or a.shape[0] != b.shape[0]:
        return None
    (bb, m, k), nn = a.shape, b.shape[2]
    return Cost(2 * bb * m * k * nn, nbytes(a, b) + bb * m * nn * a.itemsize, "gemm")


def _baddbmm(t, c, n):
    s, a, b = need(t, 0, 1, 2)
    base = _bmm([a, b], c, n)
    if base is None:
        return None
    out = a.shape[0] * a.shape[1] * b.shape[2]
    return Cost(base.flops + out, base.bytes + s.nbytes, "gemm")


def _matmul(t, c, n):
    a, b = need(t, 0, 1)
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        return None
    if len(sa) == 1 and len(sb) == 1:
        if sa != sb:
            return None
        return Cost(2 * sa[0], nbytes(a, b) + a.itemsize, "gemm")
    if len(sb) == 1:
        if sa[-1] != sb[0]:
            return None
        out = math.prod(sa[:-1])
        return Cost(2 * out * sb[0], nbytes(a, b) + out * a.itemsize, "gemm")
    k = sa[-1]
    if k != sb[-2]:
        return None
    m = 1 if len(sa) == 1 else sa[-2]
    batch = broadcast(sa[:-2], sb[:-2])
    if batch is None:
        return None
    out = math.prod(batch) * m * sb[-1]
    return Cost(2 * out * k, nbytes(a, b) + out * a.itemsize, "gemm")


def _linear(t, c, n):
    x, w = need(t, 0, 1)
    bias = opt(t, 2)
    if len(w.shape) != 2 or not x.shape or x.shape[-1] != w.shape[1]:
        return None
    out = math.prod(x.shape[:-1]) * w.shape[0]
    flops = 2 * out * w.shape[1] + (out if bias is not None else 0)
    return Cost(flops, nbytes(x, w, bias) + out * x.itemsize, "gemm")


def _mv(t, c, n):
    first = 1 if n == "addmv" else 0
    mat, vec = need(t, first, first + 1)
    if len(mat.shape) != 2 or vec.shape != (mat.shape[1],):
        return None
    m, k = mat.shape
    extra = need(t, 0)[0] if first else None
    return Cost(2 * m * k + (m if first else 0), nbytes(mat, vec, extra) + m * mat.itemsize, "gemm")


def _scaled_mm(t, c, n):
    # _scaled_mm(a, b, scale_a, scale_b, bias, scale_result, out_dtype, use_fast_accum)
    a, b = need(t, 0, 1)
    code = concrete_value(c, 6)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        return None
    size = a.itemsize if (c and code is None) else SCALAR_TYPE_BYTES.get(code)
    if size is None:
        return None
    (m, k), nn = a.shape, b.shape[1]
    return Cost(2 * m * k * nn, nbytes(*[x for x in t if x is not None]) + m * nn * size, "gemm")


# --- attention ----------------------------------------------------------------------

# name -> (layout of q/k/v, index of the is_causal argument in the op's schema)
_ATTENTION = {
    "scaled_dot_product_attention": ("bhld", 5),
    "_scaled_dot_product_attention_math": ("bhld", 5),
    "_scaled_dot_product_flash_attention": ("bhld", 4),
    "_scaled_dot_product_flash_attention_for_cpu": ("bhld", 4),
    "_scaled_dot_product_efficient_attention": ("bhld", 6),
    "_scaled_dot_product_cudnn_attention": ("bhld", 6),
    "_scaled_dot_product_fused_attention_overrideable": ("bhld", 5),
    "_flash_attention_forward": ("blhd", 8),
    # custom_mask_type (index 9): 0 none, 1 causal from top-left, 2 from bottom-right
    "_efficient_attention_forward": ("blhd", 9),
}


def _causal_pairs(lq, lk):
    if lq <= lk:
        return lq * (lq + 1) // 2
    return lk * (lk + 1) // 2 + (lq - lk) * lk


def _attention(t, c, n):
    layout, ci = _ATTENTION[n]
    q, k, v = need(t, 0, 1, 2)
    if not (len(q.shape) == len(k.shape) == len(v.shape) == 4):
        return None  # varlen (packed 3-D) inputs need the sequence offsets
    if layout == "bhld":
        (b, h, lq, d), lk, dv = q.shape, k.shape[2], v.shape[3]
    else:
        (b, lq, h, d), lk, dv = q.shape, k.shape[1], v.shape[3]
    causal = concrete_value(c, ci)
    causal = bool(causal) if isinstance(causal, (bool, int)) else False
    pairs = _causal_pairs(lq, lk) if causal else lq * lk
    flops = 2 * b * h * pairs * (d + dv)
    out = b * h * lq * dv * q.itemsize
    return Cost(flops, nbytes(*[x for x in t if x is not None]) + out, "attention")


# --- convolution --------------------------------------------------------------------

# name -> indices of (stride, padding, dilation, transposed flag or None) in the schema
_CONV = {
    "conv1d": (3, 4, 5, None), "conv2d": (3, 4, 5, None), "conv3d": (3, 4, 5, None),
    "convolution": (3, 4, 5, 6), "_convolution": (3, 4, 5, 6),
    "cudnn_convolution": (3, 2, 4, None), "miopen_convolution": (4, 3, 5, None),
    "mkldnn_convolution": (4, 3, 5, None),
}


def _conv(t, c, n):
    si, pi, di, ti = _CONV[n]
    x, w = need(t, 0, 1)
    bias = None if n == "cudnn_convolution" else opt(t, 2)
    stride, pad, dil = (concrete_value(c, i) for i in (si, pi, di))
    if ti is not None and concrete_value(c, ti) is not False:
        return None  # transposed, or unknown
    nsp = len(w.shape) - 2
    if not all(isinstance(v, list) and len(v) in (1, nsp) for v in (stride, pad, dil)) \
            or len(x.shape) != nsp + 2 or nsp < 1:
        return None
    stride, pad, dil = (v * nsp if len(v) == 1 else v for v in (stride, pad, dil))
    out_sp = [(x.shape[2 + i] + 2 * pad[i] - dil[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1
              for i in range(nsp)]
    if min(out_sp) <= 0:
        return None
    out = x.shape[0] * w.shape[0] * math.prod(out_sp)
    flops = 2 * out * math.prod(w.shape[1:]) + (out if bias is not None else 0)
    return Cost(flops, nbytes(x, w, bias) + out * x.itemsize, "conv")


HANDLERS = {"mm": _mm, "addmm": _addmm, "bmm": _bmm, "baddbmm": _baddbmm,
            "matmul": _matmul, "linear": _linear, "mv": _mv, "addmv": _mv,
            "dot": _matmul, "vdot": _matmul, "_scaled_mm": _scaled_mm}
HANDLERS.update(dict.fromkeys(_ATTENTION, _attention))
HANDLERS.update(dict.fromkeys(_CONV, _conv))
KINDS = {**dict.fromkeys(HANDLERS, "gemm"), **dict.fromkeys(_ATTENTION, "attention"),
         **dict.fromkeys(_CONV, "conv")}
