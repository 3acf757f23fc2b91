"""FLOPs and Q (the minimum bytes an operator must move) from recorded shapes.

`op_cost(name, input_dims, input_types, concrete=None)` -> Cost(flops, bytes, kind) or
None. Q counts every tensor input read once and every output written once at its dtype
size (Ivanov et al., "Data Movement Is All You Need", MLSys 2021, section 3: Q is the
data an operator cannot avoid moving); output shapes are inferred from the inputs.
None means "not known", never a guess: an op profkit does not model, missing shapes, or
a shape that needs a scalar argument the trace did not record ("Concrete Inputs").

FLOP conventions (multiply and add count separately):
- contractions: (m×k)·(k×n) is 2·m·k·n; a fused bias or beta·C adds m·n.
- attention: 4·B·H·Lq·Lk·D for QKᵀ and P·V (Dao et al., FlashAttention, 2022, counts
  the same); with is_causal only the unmasked pairs count (top-left aligned, so
  Lq = Lk gives L(L+1)/2 pairs: about half). When the causal flag was not recorded the
  full square is counted. Softmax inside fused attention is not counted.
- pointwise ops: POINTWISE[name] flops per output element: one per arithmetic step or
  math-library call (exp, tanh, erf, rsqrt count 1); e.g. sigmoid 4, silu 5, gelu 5
  (tanh approximation 9).
- softmax / log_softmax: 5 per element (max, subtract, exp, sum, divide).
- layer/group/batch norm: 5 per element (mean, variance, normalise) + 1 per element
  each for weight and bias; RMS norm: 3 per element + 1 for the weight.
- reductions: 1 per input element (var/std/logsumexp 3, norms 2).
- gathers and copies: 0 flops; Q = indices + rows read + output written.
Not modelled, on purpose: views and allocations (no data moves), `to`/`contiguous`/
`reshape`/`_to_copy`/`dropout` (no-ops or wrappers: the copy they may run is its own
op, aten::copy_ or aten::clone), and cat/stack (Kineto records a TensorList without
element dtypes, so their bytes are unknown).
"""

from functools import lru_cache

from profkit.analysis.cost import contraction as cc
from profkit.analysis.cost import other as co
from profkit.analysis.cost.shapes import Cost, Unknown, tensor_args

__all__ = ["Cost", "KIND_CLASS", "POINTWISE", "has_model", "op_cost", "op_kind"]
POINTWISE = co.POINTWISE

# Operator class a kind belongs to (the Ivanov et al. classes plus attention and memory).
KIND_CLASS = {"gemm": "tensor_contraction", "conv": "tensor_contraction",
              "attention": "attention", "norm": "normalization",
              "reduction": "normalization", "pointwise": "elementwise",
              "gather": "memory", "copy": "memory"}


# --- dispatch -----------------------------------------------------------------------

_HANDLERS = {**cc.HANDLERS, **co.HANDLERS}
_KINDS = {**cc.KINDS, **co.KINDS}


def _short(name):
    name = str(name)
    return name[6:] if name.startswith("aten::") else name


def _handler(short):
    h = _HANDLERS.get(short)
    if h is None and short.rstrip("_") in POINTWISE:
        h = co.pointwise
    return h


def has_model(name):
    """True when op_cost has a formula for this operator name."""
    return _handler(_short(name)) is not None


def op_kind(name):
    """The kind op_cost would report for this name (None when not modelled).

    Known from the name alone, so a class can be given to an op whose shapes are
    missing.
    """
    short = _short(name)
    kind = _KINDS.get(short)
    if kind is None and short.rstrip("_") in POINTWISE:
        kind = "pointwise"
    return kind


def _freeze(x):
    return tuple(_freeze(i) for i in x) if isinstance(x, (list, tuple)) else x


def op_cost(name, input_dims, input_types, concrete=None):
    """Cost(flops, bytes, kind) of one op call, or None when it cannot be known."""
    if not input_dims or not input_types or not isinstance(input_dims, (list, tuple)):
        return None
    return _cost(str(name), _freeze(input_dims), tuple(input_types),
                 tuple(concrete) if concrete else None)


@lru_cache(maxsize=1 << 16)
def _cost(name, dims, types, concrete):
    short = _short(name)
    h = _handler(short)
    if h is None:
        return None
    try:
        return h(tensor_args(dims, types), concrete, short)
    except (Unknown, IndexError, ZeroDivisionError):
        return None
