"""FLOPs and bytes of normalizations, reductions, gathers, copies, pointwise ops (see flops.py)."""

import math

from profkit.analysis.cost.shapes import (SCALAR_TYPE_BYTES, Cost, broadcast, concrete_value,
                                     nbytes, need, opt)


# --- normalizations and reductions --------------------------------------------------

# name -> (flops per element before the affine part, indices of affine weight/bias)
_NORMS = {
    "layer_norm": (5, (2, 3)), "native_layer_norm": (5, (2, 3)),
    "group_norm": (5, (2, 3)), "native_group_norm": (5, (1, 2)),
    "batch_norm": (5, (1, 2)), "native_batch_norm": (5, (1, 2)),
    "_native_batch_norm_legit": (5, (1, 2)), "_native_batch_norm_legit_no_training": (5, (1, 2)),
    "cudnn_batch_norm": (5, (1, 2)), "miopen_batch_norm": (5, (1, 2)),
    "instance_norm": (5, (1, 2)),
    "rms_norm": (3, (2,)), "_fused_rms_norm": (3, (2,)),
}


def _norm(t, c, n):
    per, affine = _NORMS[n]
    x = need(t, 0)[0]
    flops = x.numel * (per + sum(1 for i in affine if opt(t, i) is not None))
    # every other tensor argument (weight, bias, running statistics) is read once
    return Cost(flops, nbytes(*[a for a in t if a is not None]) + x.nbytes, "norm")


def _softmax(t, c, n):
    x = need(t, 0)[0]
    flag = concrete_value(c, 2)
    if n.startswith("_"):           # _softmax(self, dim, half_to_float)
        size = 4 if flag is True else x.itemsize
    else:                           # softmax(self, dim, dtype=None)
        size = SCALAR_TYPE_BYTES.get(flag, x.itemsize) if isinstance(flag, int) else x.itemsize
    return Cost(5 * x.numel, x.nbytes + x.numel * size, "norm")


def _vllm_rms_norm(t, c, n):
    if n == "_C::rms_norm":         # rms_norm(out, input, weight, eps)
        out, x, w = need(t, 0, 1, 2)
        return Cost(4 * x.numel, nbytes(out, x, w), "norm")
    x, res, w = need(t, 0, 1, 2)    # fused_add_rms_norm(input, residual, weight, eps), in place
    return Cost(5 * x.numel, 2 * nbytes(x, res) + w.nbytes, "norm")


# name -> (flops per input element, index of the dim argument, fewest args with a dim)
_REDUCTIONS = {
    "sum": (1, 1, 3), "mean": (1, 1, 3), "prod": (1, 1, 3), "nansum": (1, 1, 3),
    "amax": (1, 1, 2), "amin": (1, 1, 2), "max": (1, 1, 2), "min": (1, 1, 2),
    "argmax": (1, 1, 2), "argmin": (1, 1, 2), "any": (1, 1, 2), "all": (1, 1, 2),
    "logsumexp": (3, 1, 2), "var": (3, 1, 3), "std": (3, 1, 3),
    "norm": (2, 2, 3), "linalg_vector_norm": (2, 2, 3),
}


def _reduction(t, c, n):
    per, di, min_args = _REDUCTIONS[n]
    x = need(t, 0)[0]
    if len(t) < min_args:
        dims = []                       # the overload without a dim reduces everything
    else:
        if not c:
            return None                 # which dims were reduced was not recorded
        dims = concrete_value(c, di)
        dims = [] if dims is None else ([dims] if isinstance(dims, int) else dims)
        if not isinstance(dims, list):
            return None
    nd = len(x.shape)
    try:
        kept = [s for i, s in enumerate(x.shape) if dims and i not in {d % nd for d in dims}]
    except ZeroDivisionError:
        kept = []
    out = math.prod(kept)
    size = 8 if n in ("argmax", "argmin") else 1 if n in ("any", "all") else x.itemsize
    if n in ("max", "min") and dims:
        size += 8                       # max.dim / min.dim also return int64 indices
    return Cost(per * x.numel, x.nbytes + out * size, "reduction")


def _cumsum(t, c, n):
    x = need(t, 0)[0]
    return Cost(x.numel, 2 * x.nbytes, "reduction")


# --- gathers and copies -------------------------------------------------------------

def _embedding(t, c, n):
    w, idx = need(t, 0, 1)
    out = idx.numel * math.prod(w.shape[1:])
    return Cost(0, idx.nbytes + 2 * out * w.itemsize, "gather")


def _index_select(t, c, n):
    x, idx = need(t, 0, 2)
    dim = 0 if len(x.shape) == 1 else concrete_value(c, 1)
    if not isinstance(dim, int) or isinstance(dim, bool) or not x.shape:
        return None
    size = x.shape[dim % len(x.shape)]
    out = x.numel // size * idx.numel if size else 0
    return Cost(0, idx.nbytes + 2 * out * x.itemsize, "gather")


def _gather(t, c, n):
    x, idx = need(t, 0, 2)
    return Cost(0, idx.nbytes + 2 * idx.numel * x.itemsize, "gather")


def _copy(t, c, n):
    dst, src = need(t, 0, 1)
    return Cost(0, nbytes(dst, src), "copy")


def _clone(t, c, n):
    return Cost(0, 2 * need(t, 0)[0].nbytes, "copy")


def _fill(t, c, n):
    return Cost(0, nbytes(*[a for a in t if a is not None]), "copy")


# --- pointwise ----------------------------------------------------------------------

POINTWISE = dict.fromkeys(
    "abs neg relu add sub rsub mul div true_divide floor_divide remainder fmod maximum "
    "minimum fmax fmin clamp clamp_min clamp_max clip where masked_fill eq ne lt le gt ge "
    "logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_not "
    "bitwise_xor sign sgn floor ceil round trunc frac reciprocal sqrt rsqrt exp exp2 expm1 "
    "log log2 log10 log1p sin cos tan tanh sinh cosh asin acos atan atan2 erf erfc erfinv "
    "pow square threshold hardtanh relu6 isnan isinf isfinite nan_to_num heaviside "
    "copysign xlogy".split(), 1)
POINTWISE.update(leaky_relu=2, elu=3, softplus=3, logit=3, lerp=3, addcmul=3, addcdiv=3,
                 hardsigmoid=3, hardswish=4, sigmoid=4, silu=5, gelu=5, mish=6)
_BOOL_OUT = set("eq ne lt le gt ge logical_and logical_or logical_not logical_xor isnan "
                "isinf isfinite".split())


def pointwise(t, c, n):
    base = n.rstrip("_")
    ts = [a for a in t if a is not None]
    if not ts:
        return None
    per = POINTWISE[base]
    if base == "gelu" and concrete_value(c, 1) == "tanh":
        per = 9
    if n.endswith("_"):                 # in place: the output is the first argument
        out_shape = need(t, 0)[0].shape
    else:
        out_shape = broadcast(*[a.shape for a in ts])
        if out_shape is None:
            return None
    if base in _BOOL_OUT:
        size = 1
    else:                               # type promotion, roughly: float wins, then width
        cand = [a for a in ts if a.shape] or ts
        cand = [a for a in cand if a.floating] or cand
        size = max(a.itemsize for a in cand)
    out = math.prod(out_shape)
    return Cost(per * out, nbytes(*ts) + out * size, "pointwise")


HANDLERS = {"softmax": _softmax, "_softmax": _softmax, "log_softmax": _softmax,
            "_log_softmax": _softmax, "cumsum": _cumsum,
            "embedding": _embedding, "index_select": _index_select, "gather": _gather,
            "copy_": _copy, "clone": _clone, "fill_": _fill, "zero_": _fill,
            "_C::rms_norm": _vllm_rms_norm, "_C::fused_add_rms_norm": _vllm_rms_norm}
HANDLERS.update(dict.fromkeys(_NORMS, _norm))
HANDLERS.update(dict.fromkeys(_REDUCTIONS, _reduction))
KINDS = {**dict.fromkeys(HANDLERS, "norm"), **dict.fromkeys(_REDUCTIONS, "reduction"),
         "cumsum": "reduction", "embedding": "gather", "index_select": "gather", "gather": "gather",
         "copy_": "copy", "clone": "copy", "fill_": "copy", "zero_": "copy"}
