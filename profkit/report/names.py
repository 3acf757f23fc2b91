"""The one kernel-name shortener of the terminal and the HTML report.

A demangled kernel name is mostly noise (`void `, namespaces of lambdas, the argument
list, nested template arguments), but the part that tells kernels apart is often
inside the template: `void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_128x128_16x5_tn_align4>(...)`
is one of several GEMM tilings, and `at::native::elementwise_kernel<4, ...MulFunctor<float>...>`
one of many element-wise ops. The short name keeps that part:

- a generic wrapper (`cutlass::Kernel2`, `cutlass::device_kernel`, `kernel`) is named by its
  first template argument, the wrapper in brackets:
  `cutlass_80_tensorop_s1688gemm_128x128_16x5_tn_align4 [cutlass::Kernel2]`;
- other templates keep their base, the last functor or op named in their arguments and
  the element type: `at::native::elementwise_kernel [MulFunctor, float]`;
- names without templates or arguments (cuBLAS `sm90_xmma_*`, Triton `triton_*`) stay whole.

Templates that differ only in numeric parameters (tile sizes of `magma_sgemmEx_kernel<float,
float, 64, 8, ...>`) share a short name. The full name is always kept where there is room
for it (the HTML cell's title, the JSON's `kernels[].name`).
"""

import re

# A template argument that names the operation of a generic TensorIterator/reduce kernel: a word
# holding one of _HINT_PARTS after its first character, or ending in "_kernel" right before "(".
# Words are found first and tested with string methods (one pass: a regex of \w+ around the parts
# backtracks over every start of a long word).
_WORD = re.compile(r"\w+")
_HINT_PARTS = ("Functor", "_kernel_cuda", "_kernel_impl", "Op")
# Names are shortened from their first SHORT_CHARS characters (what a table cell can show and more).
SHORT_CHARS = 4096
# The element type a templated kernel was instantiated for (first one named in its arguments).
_DTYPE = re.compile(r"\b(float|double|c10::BFloat16|c10::Half|__half|__nv_bfloat16|c10::Float8_\w+|bool|"
                    r"(?:unsigned |signed )?char|short|int|long(?: long)?|c10::complex<\w+>)\b")
# Template wrappers whose own name says nothing: their first argument is the kernel.
_WRAPPER = re.compile(r"^(?:Kernel\d*|device_kernel|kernel|Kernel_?\w{0,3})$")
_FIRST_ARG = re.compile(r"\s*([\w:]+)")
# A SFINAE return type written before the kernel's own name.
_ENABLE_IF = re.compile(r"^std::enable_if<[^<>]*(?:<[^<>]*>[^<>]*)*>::type\s+")


def _split(text):
    """(base, template arguments) at the first top-level '<' or '(' of `text`; a '(' after
    words ("Memcpy HtoD (Pageable -> Device)") is part of the name, not an argument list."""
    for i, ch in enumerate(text):
        if ch == "(" and i > 0:
            return (text[:i], "") if " " not in text[:i] else (text, "")
        if ch == "<" and i > 0:
            depth = 0
            for j in range(i, len(text)):
                if text[j] == "<":
                    depth += 1
                elif text[j] == ">":
                    depth -= 1
                    if depth == 0:
                        return text[:i], text[i + 1:j]
            return text[:i], text[i + 1:]
    return text, ""


def _hints(args):
    """The words of `args` that name an operation (see _HINT_PARTS), in order."""
    out = []
    for m in _WORD.finditer(args):
        w = m.group()
        if any(w.find(p, 1) > 0 for p in _HINT_PARTS) or (
                w.endswith("_kernel") and len(w) > 7 and args[m.end():m.end() + 1] == "("):
            out.append(w)
    return out


def short_name(name, limit=None):
    """A readable kernel (or op) name that still tells kernels apart; `limit` caps its
    length with an ellipsis."""
    text = str(name)[:SHORT_CHARS]
    text = (text[5:] if text.startswith("void ") else text).replace("(anonymous namespace)::", "").strip()
    text = _ENABLE_IF.sub("", text)
    base, args = _split(text)
    leaf = base.rsplit("::", 1)[-1]
    out = base
    if args:
        first = _FIRST_ARG.match(args)
        hints = [h for h in _hints(args) if h != leaf and h != "gpu_kernel_impl"]
        dtype = _DTYPE.search(args)
        if _WRAPPER.match(leaf) and first and not first.group(1).isdigit() and not _DTYPE.fullmatch(first.group(1)):
            out = f"{first.group(1)} [{base}]"
        else:
            tags = ([hints[-1]] if hints else []) + ([dtype.group(1)] if dtype else [])
            out = f"{base} [{', '.join(tags)}]" if tags else base
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out
