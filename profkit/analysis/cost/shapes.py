"""Reading Kineto's recorded operator inputs: tensor shapes, dtype sizes, concrete values.

With `record_shapes=True` every CPU op carries args "Input Dims" (one entry per
argument: a list of ints for a tensor, [] for a scalar or absent argument, a list of
lists for a TensorList), "Input type" (the dtype as C++ spells it, e.g.
"c10::BFloat16", "float", "long int"; or "Scalar", "ScalarList", "TensorList", "")
and, since PyTorch 2.4, "Concrete Inputs" (scalar argument values as strings).
"""

import math
from collections import namedtuple

# Bytes per element, keyed by the C++ type name Kineto writes.
DTYPE_BYTES = {
    "double": 8, "float": 4, "c10::Half": 2, "c10::BFloat16": 2,
    "c10::Float8_e4m3fn": 1, "c10::Float8_e5m2": 1,
    "c10::Float8_e4m3fnuz": 1, "c10::Float8_e5m2fnuz": 1, "c10::Float8_e8m0fnu": 1,
    "long int": 8, "long": 8, "int64_t": 8, "long long": 8, "int": 4,
    "short": 2, "short int": 2, "signed char": 1, "unsigned char": 1, "bool": 1,
    "c10::complex<float>": 8, "c10::complex<double>": 16, "c10::complex<c10::Half>": 4,
    "unsigned short": 2, "unsigned int": 4, "unsigned long": 8,
}
# c10::ScalarType names (the "dtype" PyTorch records on collectives) -> bytes per element.
# Source: c10/core/ScalarType.h, AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS.
SCALAR_NAME_BYTES = {
    "Byte": 1, "Char": 1, "Short": 2, "Int": 4, "Long": 8, "Half": 2, "Float": 4, "Double": 8,
    "ComplexHalf": 4, "ComplexFloat": 8, "ComplexDouble": 16, "Bool": 1, "BFloat16": 2,
    "Float8_e5m2": 1, "Float8_e4m3fn": 1, "Float8_e5m2fnuz": 1, "Float8_e4m3fnuz": 1, "Float8_e8m0fnu": 1,
    "UInt16": 2, "UInt32": 4, "UInt64": 8,
}
FLOATING = {"double", "float", "c10::Half", "c10::BFloat16", "c10::Float8_e4m3fn",
            "c10::Float8_e5m2", "c10::Float8_e4m3fnuz", "c10::Float8_e5m2fnuz",
            "c10::complex<float>", "c10::complex<double>", "c10::complex<c10::Half>"}

# c10::ScalarType enum values (as a dtype argument appears in "Concrete Inputs") ->
# bytes per element. Source: c10/core/ScalarType.h, AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS.
SCALAR_TYPE_BYTES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 8: 4, 9: 8, 10: 16,
                     11: 1, 15: 2, 23: 1, 24: 1, 25: 1, 26: 1}


Cost = namedtuple("Cost", "flops bytes kind")


class Unknown(Exception):
    """An argument a formula needs is absent or malformed."""


def need(t, *idx):
    """The tensors at these argument positions; Unknown if any is missing."""
    try:
        out = [t[i] for i in idx]
    except IndexError:
        raise Unknown from None
    if any(x is None for x in out):
        raise Unknown
    return out


def opt(t, i):
    return t[i] if i < len(t) else None


def nbytes(*ts):
    return sum(x.nbytes for x in ts if x is not None)


class Tensor:
    """One tensor argument: its shape and element size."""

    __slots__ = ("shape", "itemsize", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype
        self.itemsize = DTYPE_BYTES[dtype]

    @property
    def numel(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.numel * self.itemsize

    @property
    def floating(self):
        return self.dtype in FLOATING


def tensor_args(input_dims, input_types):
    """Per argument: a Tensor, or None (scalar, list, absent or unknown-dtype argument)."""
    out = []
    for dims, typ in zip(input_dims, input_types):
        if typ in DTYPE_BYTES and isinstance(dims, (list, tuple)) and all(
                isinstance(d, int) for d in dims):
            out.append(Tensor(tuple(dims), typ))
        else:
            out.append(None)
    return out


def broadcast(*shapes):
    """numpy/PyTorch broadcast of shapes, or None when they do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for i in range(1, ndim + 1):
        size = 1
        for s in shapes:
            if i <= len(s):
                d = s[-i]
                if d != 1:
                    if size not in (1, d):
                        return None
                    size = d
        result.append(size)
    return tuple(reversed(result))


def concrete_value(concrete, i):
    """The i-th concrete input as a Python value (bool, int, float, list) or None."""
    if not concrete or i >= len(concrete):
        return None
    text = concrete[i]
    if not isinstance(text, str) or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if text.startswith("[") and text.endswith("]"):
        try:
            return [int(x) for x in text[1:-1].split(",") if x.strip()]
        except ValueError:
            return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
