"""Checks of the rules about work: memory-bound classes to fuse, compilation inside the window,
small GEMMs, unclassified time and a KV cache grown by concatenation."""

import re

import numpy as np
import pandas as pd

from profkit.analysis.advice.engine import Hit, top_items
from profkit.analysis.classes.classify import self_time
from profkit.analysis.result import Evidence, Item
from profkit.analysis.time.intervals import covered, in_ranges, union
from profkit.trace.model import first_of_groups, name_mask, object_ids


def memory_bound(f, t):
    share = f.pct("normalization") + f.pct("elementwise")
    if share < t["norm_elementwise_pct"]:
        return None
    eff = f.summary.efficiency.classes
    mue = {c: eff[c].mue_pct if c in eff else None for c in ("normalization", "elementwise")}
    nums = {"normalization_pct": round(f.pct("normalization"), 1), "elementwise_pct": round(f.pct("elementwise"), 1),
            **{f"{c}_mue_pct": round(v, 1) for c, v in mue.items() if v is not None}}
    text = (f"Memory-bound classes take {share:.0f}% of kernel time (normalization {f.pct('normalization'):.0f}%, "
            f"elementwise {f.pct('elementwise'):.0f}%): they move data rather than compute, and each unfused "
            "kernel reads and writes its whole tensor.")
    action = ("Fuse them: torch.compile (Inductor fuses chains of elementwise and normalization ops into one "
              "kernel), or fused library kernels (fused LayerNorm/RMSNorm, fused activations)")
    return Hit(share, t["norm_elementwise_pct"], text, action + ".", Evidence(
        numbers=nums, items=top_items(f, ("normalization", "elementwise"))))


# Dynamo/Inductor compile regions as torch.profiler records them ("_compile.compile_inner (dynamo_timed)",
# "entire_frame_compile", "compile_attempt_0", "inductor_compile", autotuning). Not "TorchDynamo Cache
# Lookup": that is the guard check every call of a compiled function makes.
_COMPILE = re.compile(r"\(dynamo_timed\)$|^_compile\.|^entire_frame_compile$|^compile_attempt_\d+$|^dynamo$|"
                      r"^compile_fx|^inductor_compile|^CachingAutotuner|^async_compile|^create_aot_dispatcher|"
                      r"^backend_compile$")


def compile_in_window(f, t):
    lo, hi = f.summary.window_us.start, f.summary.window_us.end
    rows = []
    for table in (f.trace.cpu_ops, f.trace.annotations):
        hit = table[name_mask(table["name"], _COMPILE)]
        rows.append(hit[["name", "ts", "dur", "end"]])
    hits = pd.concat(rows, ignore_index=True)
    if lo is not None and len(hits):
        hits = hits[(hits["end"] > lo) & (hits["ts"] < hi)]
    if not len(hits):
        return None
    s, e = union(hits["ts"].to_numpy(), hits["end"].to_numpy())
    span = (hi - lo) if lo is not None else float(hits["end"].max() - hits["ts"].min())
    spent = covered(s, e, lo, hi) if lo is not None else float((e - s).sum())
    share = 100.0 * spent / span if span else 0.0
    if share < t["compile_pct"]:
        return None
    top = hits.assign(name=hits["name"].astype(str)).nlargest(3, "dur")
    items = [Item(kind="op", name=r.name, time_us=float(r.dur), start_us=float(r.ts)) for r in top.itertuples()]
    text = (f"Compilation ran inside the profiled window: {spent / 1000:.1f} ms ({share:.0f}% of it) in "
            "Dynamo/Inductor compile regions, so the window times the compiler, not the model.")
    action = ("Call the compiled model once (or a few times) before starting the profiler, or give "
              "torch.profiler.schedule a warmup so the first, compiling calls are not recorded")
    return Hit(share, t["compile_pct"], text, action + ".", Evidence(
        numbers={"compile_us": round(spent, 1), "compile_share_of_window_pct": round(share, 1)}, items=items))


_GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::linear", "aten::matmul")


def small_gemms(f, t):
    tc = f.summary.efficiency.classes.get("tensor_contraction")
    achieved = tc.compute_pct if tc is not None else None
    if achieved is None or f.pct("tensor_contraction") < t["gemm_pct"] or achieved >= t["gemm_efficiency_pct"]:
        return None
    ops = f.trace.cpu_ops
    mm = ops[ops["name"].isin(_GEMM_OPS).to_numpy()]
    # Ops with the same shapes share one parsed object: M is computed once per object.
    dims = mm["input_dims"].tolist()
    rows, group = first_of_groups(object_ids(dims))
    m = np.array([_gemm_rows(dims[i]) or 0 for i in rows.tolist()], np.int64)[group]
    keep = m != 0  # no M (no 2-D input)
    m, dur = m[keep], mm["dur"].to_numpy(float)[keep]
    if not len(m):
        return None
    order = np.lexsort((dur, m))  # by M, then time
    m, acc = m[order], np.cumsum(dur[order])
    # Time-weighted median of M, the rows each GEMM multiplies.
    median_m = int(m[min(np.searchsorted(acc, acc[-1] / 2), len(m) - 1)])
    if median_m > t["small_rows"]:
        return None
    text = (f"GEMMs take {f.pct('tensor_contraction'):.0f}% of the time but reach only {achieved:.0f}% of the "
            f"device's limit; most multiply {median_m} rows (time-weighted median M): "
            f"{'too few to fill the GPU' if f.gpu else 'each weight read from memory serves too few rows'}.")
    action = ("Batch more work per call: more sequences (or tokens) per forward pass, or concatenate the "
              "small matmuls that share a weight into one")
    return Hit(f.pct("tensor_contraction"), t["gemm_pct"], text, action + ".", Evidence(
        numbers={"tensor_contraction_pct": round(f.pct("tensor_contraction"), 1),
                 "gemm_share_of_limit_pct": round(achieved, 1),
         "median_rows_m": median_m, "gemm_ops": len(m)},
        items=top_items(f, ("tensor_contraction",))))


def _gemm_rows(dims):
    """M of a GEMM op of _GEMM_OPS from its recorded input shapes (rows of the left operand,
    batch folded in)."""
    if not dims:
        return None
    shapes = [d for d in dims if isinstance(d, list) and len(d) >= 2]
    if not shapes:
        return None
    rows = 1  # addmm's bias is 1-D, so the first 2-D+ input is the left operand for every op here
    for x in shapes[0][:-1]:
        rows *= int(x)
    return rows


def unclassified(f, t):
    other = f.pct("other")
    if other < t["other_pct"]:
        return None
    what = "kernel" if f.gpu else "op"
    text = f"{other:.0f}% of {what} time is in {what}s profkit could not classify (class \"other\")."
    return Hit(other, t["other_pct"], text, ("Check the top rows of class other below; report the names so a "
                                         "rule can be added (profkit/analysis/classes/rules.py)."), Evidence(
        numbers={"other_pct": round(other, 1)}, items=top_items(f, ("other",))))


def growing_kv_cache(f, t):
    """aten::cat on the same tensors with one dimension growing call after call: a KV cache re-concatenated."""
    ops = f.trace.cpu_ops
    cats = ops[ops["name"].astype(str) == "aten::cat"]
    if not len(cats):
        return None
    firsts = []
    for dims in cats["input_dims"]:
        inner = dims[0] if dims and isinstance(dims[0], list) and dims[0] and isinstance(dims[0][0], list) else None
        firsts.append(tuple(inner[0]) if inner else None)
    grown = _growing(s for s in firsts if s)
    if grown is None:
        return None
    axis, grown = grown
    phases = f.summary.phases or {}
    window = phases.get("decode")
    durs, total = _cat_share(f, cats, window)
    if not len(durs):
        return None
    # Robust to a busy machine: calls x median duration. A few calls stretched by preemption
    # (a 2-core machine under load: 25 µs calls taking 12 ms) would otherwise make the share.
    summed, median_us = float(durs.sum()), float(np.median(durs))
    robust = len(durs) * median_us
    share = 100.0 * robust / (total - summed + robust) if total else 0.0
    if share < t["cat_pct"]:
        return None
    where = "of the decode phase's op time" if window else "of op time"
    if f.gpu:
        where = where.replace("op time", "GPU time")
    stretched = (f" (the summed time, {summed / 1000:.1f} ms, is {summed / robust:.0f}× that: a few calls were "
                 "stretched, typically by a busy machine)" if summed > 2 * robust else "")
    text = (f"The KV cache grows by concatenation: aten::cat copies the whole cache again at every step "
            f"(dimension {axis} grows from {grown[0][axis]} to {grown[-1][axis]}) and takes {share:.1f}% {where}, "
            f"counted as {len(durs)} calls × their median {median_us:.1f} µs{stretched}; the cost grows with the "
            "sequence.")
    action = ("Use a static KV cache allocated once: transformers StaticCache / "
              "generate(..., cache_implementation=\"static\"), which writes each new key/value in place")
    items = [Item(kind="op", name="aten::cat", time_us=summed, count=len(durs), start_us=float(cats["ts"].iloc[0]),
                  detail=f"shapes {list(grown[0])} → {list(grown[-1])}")]
    return Hit(share, t["cat_pct"], text, action + ".", Evidence(
        numbers={"cat_pct": round(share, 2), "cat_median_us": round(median_us, 2), "cat_us": round(summed, 1),
                 "cat_calls": int(len(cats)), "cat_calls_counted": int(len(durs)),
                 "grows_from": grown[0][axis], "grows_to": grown[-1][axis]}, items=items))


def _growing(shapes):
    """(axis, shapes sorted along it) for the largest set of >= 3 shapes equal but in one axis; else None."""
    by_rest = {}
    for s in set(shapes):
        for ax in range(len(s)):
            by_rest.setdefault((ax, s[:ax] + s[ax + 1:]), set()).add(s)
    best = max(by_rest.items(), key=lambda kv: len(kv[1]), default=None)
    if best is None or len(best[1]) < 3:
        return None
    axis = best[0][0]
    return axis, sorted(best[1], key=lambda s: s[axis])


def _cat_share(f, cats, phase):
    """(durations of the aten::cat calls, total time) in the decode regions when recorded, else the
    whole trace.

    CPU traces: self time of the ops (as the class table counts them); GPU traces: the
    kernels aten::cat launched against all kernel time."""
    ann = f.trace.annotations
    regions = ann[(~ann["on_gpu"]) & (ann["name"].astype(str) == "decode")] if phase else ann.iloc[0:0]

    def inside(ts):
        ts = np.asarray(ts, dtype=float)
        if not len(regions):
            return np.ones(len(ts), bool)
        return in_ranges(ts, regions["ts"], regions["end"])

    if f.gpu:
        k = f.trace.gpu_ops()
        k = k[k["kind"] == "kernel"] if "kind" in k else k
        launched = f.trace.gpu_launches()["launch_ts"].reindex(k.index)
        m = inside(launched.fillna(-1).to_numpy())
        is_cat = (k["op_name"].astype(str) == "aten::cat").to_numpy()
        return k["dur"].to_numpy()[m & is_cat], float(k["dur"].to_numpy()[m].sum())
    ops = f.trace.cpu_ops
    own = np.asarray(self_time(ops), dtype=float)
    m = inside(ops["ts"].to_numpy())
    is_cat = (ops["name"].astype(str) == "aten::cat").to_numpy()
    return own[m & is_cat], float(own[m].sum())
