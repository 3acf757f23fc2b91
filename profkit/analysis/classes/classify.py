"""Operator classes for GPU activities and CPU ops, from the rule tables in rules.py.

Every distinct name is classified once (names are categoricals) and the result
is mapped back through the category codes, so a trace with a million kernels
and a few hundred kernel names costs a few hundred regex scans.

A GPU kernel is classified by the first layer that decides (`LAYERS`):
"rule" (the user's rules, then KERNEL_RULES; memcpy/memset activities too),
"token" (words of the name, TOKEN_RULES), "op" (the CPU op that launched it:
OP_RULES, then the words of the op's name, so custom ops such as
`sgl_kernel::fused_add_rmsnorm` count), and "none" (class "other").
"""

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from profkit.analysis.classes.rules import CLASSES, KERNEL_RULES, MEM, OP_RULES, OTHER, TOKEN_RULES
from profkit.analysis.result import Coverage, LayerShare, Unclassified
from profkit.trace.model import name_mask

__all__ = ["CLASSES", "LAYERS", "UserRule", "Coverage", "classify_names", "classify_gpu",
           "classify_gpu_layers", "classify_cpu_ops", "coverage", "cpu_breakdown",
           "self_time", "op_key"]

LAYERS = ("rule", "token", "op", "none")
_NO_RULE = "?"  # no rule matched (distinct from a rule saying "no class": None)
_KERNEL = [(re.compile(p, re.IGNORECASE), c) for p, c, _ in KERNEL_RULES]
_OP = [(re.compile(p, re.IGNORECASE), c) for p, c, _ in OP_RULES]
_TOKENS = [(re.compile(p), c) for p, c, _ in TOKEN_RULES]
_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class UserRule:
    """One rule from a user's --rules file; it is tried before the built-in tables.
    target: "kernel" (GPU activity names) or "op" (CPU op names)."""

    pattern: str
    cls: str | None
    why: str = ""
    target: str = "kernel"


@lru_cache(maxsize=64)
def _user_tables(rules):
    """Compiled (kernel rules, op rules) of a tuple of UserRule."""
    kernel = [(re.compile(r.pattern, re.IGNORECASE), r.cls) for r in rules if r.target == "kernel"]
    op = [(re.compile(r.pattern, re.IGNORECASE), r.cls) for r in rules if r.target == "op"]
    return kernel, op
_CODE = {c: i for i, c in enumerate(CLASSES)}
_EVAL_PREFIX = re.compile(r"^autograd::engine::evaluate_function:\s*")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Self time of these wrappers is compiled code the profiler did not break down.
_COMPILED_REGION = re.compile(r"^(?:Torch-Compiled Region|CompiledFunction)")


def _first(rules, text):
    for regex, cls in rules:
        if regex.search(text):
            return cls
    return _NO_RULE



# Rules read at most this much of a name: the longest kernel name in the shared traces has a
# 2,575-character core, and no rule needs more; a crafted 1 MB name costs what 4 KB does.
MATCH_CHARS = 4096


def kernel_core(name):
    """Kernel name without its parameter list: the text before the first "(" that
    is outside template brackets and parentheses ("(anonymous namespace)" kept),
    of the name's first MATCH_CHARS characters."""
    s = name[:MATCH_CHARS].replace("(anonymous namespace)", "{anonymous}")
    angle = paren = 0
    for i, ch in enumerate(s):
        if ch == "(":
            if angle == 0 and paren == 0 and i > 0:
                return s[:i]
            paren += 1
        elif ch == ")":
            paren = max(0, paren - 1)
        elif paren == 0 and ch == "<":
            angle += 1
        elif paren == 0 and ch == ">":
            angle = max(0, angle - 1)
    return s


@lru_cache(maxsize=1 << 16)
def kernel_rule_class(name):
    """Class of a kernel name by KERNEL_RULES: a class, None (ambiguous) or '?' (no rule)."""
    return _first(_KERNEL, kernel_core(name))


def name_tokens(text):
    """'void deep_ep::intranode::notify_dispatch' -> 'void_deep_ep_intranode_notify_dispatch';
    'moeA2ADispatchKernel' -> 'moe_a2_a_dispatch_kernel' (what TOKEN_RULES read)."""
    return _NON_WORD.sub("_", _SPLIT.sub("_", text).lower()).strip("_")


@lru_cache(maxsize=1 << 16)
def token_class(text):
    """Class named by the words of a kernel or op name (TOKEN_RULES), or None."""
    res = _first(_TOKENS, name_tokens(text))
    return None if res == _NO_RULE else res


@lru_cache(maxsize=1 << 16)
def kernel_layer(name, rules=()):
    """(class or None, layer) of a kernel name by the user's rules, KERNEL_RULES, then its words.
    A class of None with layer "none" leaves the kernel to its launching op."""
    core = kernel_core(name)
    res = _first(_user_tables(rules)[0], core) if rules else _NO_RULE
    if res == _NO_RULE:
        res = _first(_KERNEL, core)
    if res in _CODE:
        return res, "rule"
    tok = token_class(core)
    return (tok, "token") if tok else (None, "none")


@lru_cache(maxsize=1 << 16)
def op_layer_class(name, rules=()):
    """Class a launching CPU op gives its kernels: the user's op rules, OP_RULES, then
    the words of the op name (custom ops); None when the op says nothing."""
    res = _first(_user_tables(rules)[1], op_key(name)) if rules else _NO_RULE
    if res == _NO_RULE:
        res = _first(_OP, op_key(name))
    if res == _NO_RULE:
        return token_class(op_key(name))
    return res


def op_key(name):
    """Normalised CPU op name for OP_RULES: 'aten::add_' -> 'add',
    'autograd::engine::evaluate_function: NativeLayerNormBackward0' -> 'native_layer_norm',
    '_C::rms_norm' -> '_c::rms_norm'. Names with spaces or '#' are only lower-cased."""
    s = _EVAL_PREFIX.sub("", name[:MATCH_CHARS].strip())
    if not re.fullmatch(r"[\w:.]+", s):
        return s.lower()
    ns, _, base = s.rpartition("::")
    base = re.sub(r"Backward\d*$", "", base) or base
    base = _CAMEL.sub("_", base).lower().rstrip("_") or base.lower()
    ns = ns.lower()
    return base if ns in ("", "aten") else f"{ns}::{base}"


@lru_cache(maxsize=1 << 16)
def op_rule_class(name):
    """Class of a CPU op name by OP_RULES: a class, None (no data work) or '?' (no rule)."""
    return _first(_OP, op_key(name))


def _table_codes(values, lookup):
    """Per-row values of `lookup(name)` (an int) through the categories of a name Series
    (-1 for a missing name): one lookup per distinct name."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    table = np.array([lookup(str(n)) for n in cat.cat.categories] + [-1], dtype=np.int64)
    return table[cat.cat.codes.to_numpy()]


def _codes(values, rule_class, unresolved):
    """Class codes (-1 = none) for a Series of names; `unresolved(result)` gives the
    code used for names whose rule result is None or '?'."""
    def code(name):
        res = rule_class(name)
        return _CODE[res] if res in _CODE else unresolved(res)
    return _table_codes(values, code)


def _series(codes, index):
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(CLASSES)), index=index, name="class")


def _as_series(names):
    return names if isinstance(names, pd.Series) else pd.Series(list(names), dtype=object)


def classify_names(names, fallback=OTHER):
    """Classify kernel names (any iterable or Series) -> categorical Series of CLASSES.

    Names the rules leave open (ambiguous or unmatched) get `fallback`
    (None leaves them missing, for callers that resolve them another way)."""
    s = _as_series(names)
    code = -1 if fallback is None else _CODE[fallback]
    return _series(_codes(s, kernel_rule_class, lambda res: code), s.index)


def classify_gpu_layers(trace, rules=()):
    """(class of every row of trace.gpu as a categorical Series, the layer that decided
    each as a categorical of LAYERS). `rules`: a tuple of UserRule tried first.

    memcpy/memset activities are memory (layer "rule"); kernels are classified
    by name (rules, then words); a name that leaves it open is decided by the CPU
    op that launched the kernel (trace.gpu_ops()), and is "other" (layer "none")
    when that op is unknown or says nothing."""
    gpu = trace.gpu
    layer_code = {name: i for i, name in enumerate(LAYERS)}
    n_layers = len(LAYERS)

    def packed(name):  # class and layer of a name in one int: one lookup per distinct name
        cls, layer = kernel_layer(name, rules)
        return (_CODE.get(cls, -1) + 1) * n_layers + layer_code[layer]
    both = _table_codes(gpu["name"], packed)
    codes, by = both // n_layers - 1, both % n_layers
    memory = (gpu["kind"] != "kernel").to_numpy()
    codes[memory], by[memory] = _CODE[MEM], layer_code["rule"]
    open_rows = codes < 0
    by[open_rows] = layer_code["none"]
    if open_rows.any():
        ops = trace.gpu_ops()["op_name"][open_rows]
        from_op = _table_codes(ops, lambda n: _CODE.get(op_layer_class(n, rules), -1))
        codes[open_rows] = np.where(from_op >= 0, from_op, _CODE[OTHER])
        by[np.flatnonzero(open_rows)[from_op >= 0]] = layer_code["op"]
    by = pd.Series(pd.Categorical.from_codes(by, categories=list(LAYERS)), index=gpu.index, name="classified_by")
    return _series(codes, gpu.index), by


def classify_gpu(trace, rules=()):
    """Class of every row of trace.gpu (categorical Series aligned with it); see classify_gpu_layers."""
    return classify_gpu_layers(trace, rules)[0]


def coverage(names, dur, by, top=10):
    """Coverage of activities with these names, durations and layers (classify_gpu_layers)."""
    df = pd.DataFrame({"name": np.asarray(names, dtype=object), "dur": np.asarray(dur, dtype=float),
                       "by": pd.Categorical(np.asarray(by, dtype=object), categories=list(LAYERS))})
    total = float(df["dur"].sum())

    def pct(t):
        return float(100 * t / total) if total > 0 else 0.0
    per = df.groupby("by", observed=False)["dur"].agg(["sum", "size"])
    layers = {layer: LayerShare(count=int(per.loc[layer, "size"]), time_us=float(per.loc[layer, "sum"]),
                                pct=pct(per.loc[layer, "sum"])) for layer in LAYERS}
    none = df[df["by"] == "none"].groupby("name")["dur"].agg(["sum", "size"]).nlargest(top, "sum")
    missing = [Unclassified(name=str(n), count=int(r["size"]), time_us=float(r["sum"]), pct=pct(r["sum"]))
               for n, r in none.iterrows()]
    return Coverage(classified_by=layers, unclassified=missing)


def classify_cpu_ops(trace, rules=()):
    """Class of every row of trace.cpu_ops (categorical Series aligned with it).

    Missing for ops that do no data work of their own: views, allocations,
    profiler/compiler markers, and unknown ops that only wrap other ops. An
    unknown op with no children is "other". `rules`: a tuple of UserRule (their
    "op" rules are tried first)."""
    ops = trace.cpu_ops
    user = _user_tables(rules)[1] if rules else []

    def rule(name):
        res = _first(user, op_key(name)) if user else _NO_RULE
        return op_rule_class(name) if res == _NO_RULE else res
    codes = _codes(ops["name"], rule, lambda res: -1 if res is None else -2)
    unknown = codes == -2
    codes[unknown] = np.where(ops["is_leaf"].to_numpy()[unknown], _CODE[OTHER], -1)
    return _series(codes, ops.index)


def self_time(ops):
    """dur minus the time of direct children (clipped at 0): an op's own work."""
    parent = ops["parent"].to_numpy()
    dur = ops["dur"].to_numpy()
    has = parent >= 0
    child = np.bincount(parent[has], weights=dur[has], minlength=len(ops))
    return np.clip(dur - child, 0.0, None)


def _table(cls, time):
    df = pd.DataFrame({"class": cls, "time": time})
    agg = df.groupby("class", observed=False)["time"].agg(["sum", "size"]).reindex(list(CLASSES), fill_value=0)
    total = agg["sum"].sum()
    pct = agg["sum"] / total * 100 if total > 0 else agg["sum"] * 0.0
    return pd.DataFrame({"time_us": agg["sum"].astype(float), "pct": pct, "count": agg["size"].astype(int)})


def cpu_breakdown(trace, classes=None):
    """Where CPU time went in a CPU-only trace, by self time (an op's duration
    minus its children's), so nested ops (aten::linear > aten::addmm > aten::copy_)
    are counted once each for their own work.

    Window: per thread, its first op start to last op end, summed over threads.
    `compiled_region_self_us` is self time of Torch-Compiled Region /
    CompiledFunction: Inductor's generated C++ kernels run there without profiler
    events unless `torch._inductor.config.cpp.enable_kernel_profile` is on.
    Framework overhead is the rest of the window: dispatch, views, allocation,
    Python between ops. `classes`: classify_cpu_ops(trace), if already computed."""
    ops = trace.cpu_ops
    if ops.empty:
        return None
    span = ops.groupby(["pid", "tid"])[["ts", "end"]].agg({"ts": "min", "end": "max"})
    window = float((span["end"] - span["ts"]).sum())
    self_t = self_time(ops)
    cls = classify_cpu_ops(trace) if classes is None else classes
    keep = cls.notna().to_numpy()
    table = _table(cls[keep], self_t[keep])
    classified = float(table["time_us"].sum())
    compiled = float(self_t[name_mask(ops["name"], _COMPILED_REGION)].sum())
    overhead = max(0.0, window - classified - compiled)
    return {
        "window_us": window,
        "threads": int(len(span)),
        "classes": {c: {"time_us": float(r.time_us), "pct": float(r.pct), "count": int(r["count"])}
                    for c, r in table.iterrows()},
        "classified_us": classified,
        "compiled_region_self_us": compiled,
        "framework_overhead_us": overhead,
        "framework_overhead_pct": overhead / window * 100 if window > 0 else 0.0,
    }
