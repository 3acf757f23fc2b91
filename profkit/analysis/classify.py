"""Operator classes for GPU activities and CPU ops, from the rule tables in rules.py.

Every distinct name is classified once (names are categoricals) and the result
is mapped back through the category codes, so a trace with a million kernels
and a few hundred kernel names costs a few hundred regex scans.
"""

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from profkit.analysis.rules import CLASSES, KERNEL_RULES, MEM, OP_RULES, OTHER

__all__ = ["CLASSES", "classify_names", "classify_op_names", "classify_gpu", "classify_cpu_ops",
           "class_times", "other_share", "cpu_breakdown", "self_time", "op_key"]

_NO_RULE = "?"  # no rule matched (distinct from a rule saying "no class": None)
_KERNEL = [(re.compile(p, re.IGNORECASE), c) for p, c, _ in KERNEL_RULES]
_OP = [(re.compile(p, re.IGNORECASE), c) for p, c, _ in OP_RULES]
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


def kernel_core(name):
    """Kernel name without its parameter list: the text before the first "(" that
    is outside template brackets and parentheses ("(anonymous namespace)" kept)."""
    s = name.replace("(anonymous namespace)", "{anonymous}")
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


def op_key(name):
    """Normalised CPU op name for OP_RULES: 'aten::add_' -> 'add',
    'autograd::engine::evaluate_function: NativeLayerNormBackward0' -> 'native_layer_norm',
    '_C::rms_norm' -> '_c::rms_norm'. Names with spaces or '#' are only lower-cased."""
    s = _EVAL_PREFIX.sub("", name.strip())
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


def _codes(values, rule_class, unresolved):
    """Class codes (-1 = none) for a Series of names; `unresolved(result)` gives the
    code used for names whose rule result is None or '?'."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    table = []
    for name in cat.cat.categories:
        res = rule_class(str(name))
        table.append(_CODE[res] if res in _CODE else unresolved(res))
    table = np.array(table + [-1], dtype=np.int64)  # index -1 (missing name) -> -1
    return table[cat.cat.codes.to_numpy()]


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


def classify_op_names(names, fallback=OTHER):
    """Classify CPU op names by OP_RULES. Ops that do no data work of their own
    (views, allocations, markers) are missing; unmatched ops get `fallback`."""
    s = _as_series(names)
    code = -1 if fallback is None else _CODE[fallback]
    return _series(_codes(s, op_rule_class, lambda res: -1 if res is None else code), s.index)


def classify_gpu(trace):
    """Class of every row of trace.gpu (categorical Series aligned with it).

    memcpy/memset activities are memory; kernels are classified by name; a name
    the rules leave open is decided by the CPU op that launched the kernel
    (trace.gpu_ops()), and is "other" when that op is unknown or says nothing."""
    gpu = trace.gpu
    codes = _codes(gpu["name"], kernel_rule_class, lambda res: -1)
    codes[(gpu["kind"] != "kernel").to_numpy()] = _CODE[MEM]
    open_rows = codes < 0
    if open_rows.any():
        ops = trace.gpu_ops()["op_name"][open_rows]
        codes[open_rows] = _codes(ops, op_rule_class, lambda res: -1)
        codes[codes < 0] = _CODE[OTHER]
    return _series(codes, gpu.index)


def classify_cpu_ops(trace):
    """Class of every row of trace.cpu_ops (categorical Series aligned with it).

    Missing for ops that do no data work of their own: views, allocations,
    profiler/compiler markers, and unknown ops that only wrap other ops. An
    unknown op with no children is "other"."""
    ops = trace.cpu_ops
    codes = _codes(ops["name"], op_rule_class, lambda res: -1 if res is None else -2)
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


def class_times(trace):
    """Per-class time table (index CLASSES; columns time_us, pct, count).

    GPU trace: summed duration of every GPU activity (streams may overlap, so
    this is kernel time, not wall time). CPU-only trace: summed self time of the
    classified ops (see cpu_breakdown)."""
    if trace.has_gpu:
        return _table(classify_gpu(trace), trace.gpu["dur"].to_numpy())
    cls = classify_cpu_ops(trace)
    keep = cls.notna().to_numpy()
    return _table(cls[keep], self_time(trace.cpu_ops)[keep])


def other_share(trace):
    """Fraction (0..1) of time classified "other": of GPU kernel time (memcpy/memset
    excluded from the denominator), or of classified CPU op time on a CPU-only trace.
    NaN when there is nothing to classify."""
    if trace.has_gpu:
        kernels = (trace.gpu["kind"] == "kernel").to_numpy()
        dur = trace.gpu["dur"].to_numpy()[kernels]
        other = (classify_gpu(trace).to_numpy()[kernels] == OTHER)
        total = dur.sum()
        return float(dur[other].sum() / total) if total > 0 else float("nan")
    t = class_times(trace)
    total = t["time_us"].sum()
    return float(t.loc[OTHER, "time_us"] / total) if total > 0 else float("nan")


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
    compiled = float(self_t[ops["name"].astype(str).str.match(_COMPILED_REGION).to_numpy()].sum())
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
