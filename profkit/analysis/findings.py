"""Findings: what to try next, each from one rule of a table, with its evidence.

A finding is a typed record (`Finding`): a stable rule id, a severity, the
sentence, the action to try, the evidence (numbers, and the ops, gaps and
kernels of the trace they rest on) and the preconditions that were checked
(`applies_when`). `RULES` is the one table: every rule names its thresholds and
preconditions, and docs/findings.md documents them. `analyze --json`, the
terminal and the HTML report all print what `findings()` returns.

Preconditions (PRECONDITIONS) keep advice where it applies: no GPU advice for
CPU runs, no torch.compile advice for compiled runs nor CUDA-graph advice for
graphed ones, no shape-based advice without recorded shapes. Measurement
quality is checked for every rule whose effect is a share of time: the effect
must clear its threshold by more than the run's noise (the CV of its profiler
steps, or of the capture's timed runs when larger), so a share inflated by a
busy machine near the threshold does not become advice.
"""

import re
from dataclasses import dataclass
from statistics import median

import numpy as np
import pandas as pd

from profkit.analysis.classify import self_time
from profkit.analysis.result import BLOCKER_LABELS, Evidence, Finding, Item
from profkit.analysis.temporal import covered, union
from profkit.trace.model import first_of_groups, name_mask, object_ids
from profkit.trace.sidecar import timing_of

# -- the record: Finding, Evidence and Item live in the result model (profkit.analysis.result)


# -- what the rules read -------------------------------------------------------------------------


@dataclass
class Facts:
    """Everything the rules read, computed once from the trace, its summary and the sidecar."""

    trace: object
    summary: dict
    sidecar: dict | None
    gpu: bool
    compiled: bool
    graphed: bool
    static_cache: bool
    shapes: bool
    noise_pct: float | None      # the larger of the step CV and the capture's timed-run CV
    noise_source: str
    syncs: tuple                 # (ts, end) arrays of blocking host calls
    _gaps: object = None

    def pct(self, cls):
        c = self.summary.classes.get(cls)
        return c.pct if c is not None else 0.0

    @property
    def idle_pct(self):
        return self.summary.temporal.idle_pct

    def gap_share(self, cause):
        g = self.summary.gaps
        return 100.0 * g.by_cause[cause].total_us / g.total_us if g.total_us else 0.0

    def gaps(self):
        """Every idle gap of the window (DataFrame), computed on first use."""
        if self._gaps is None:
            from profkit.analysis.summary import all_gaps

            w = self.summary.window_us.kind
            self._gaps = all_gaps(self.trace, w if w in ("gpu", "steps", "all", "hta") else "gpu")
        return self._gaps


def step_noise_pct(trace):
    """Robust CV (%) of the ProfilerStep durations: 1.4826 x MAD / median (the CV of normal noise),
    so one odd step (the first, often shorter or longer) does not pass for noise. None below 3 steps."""
    d = [float(x) for x in trace.steps["dur"]] if len(trace.steps) else []
    if len(d) < 3:
        return None
    mid = median(d)
    return 100.0 * 1.4826 * median(abs(x - mid) for x in d) / mid if mid > 0 else None


def facts(trace, summary, sidecar=None, syncs=(np.empty(0), np.empty(0))):
    mode = summary.mode.name
    side_mode = (sidecar or {}).get("mode")
    step_cv = step_noise_pct(trace)
    timing = timing_of(sidecar)
    run_cv = timing.noise.cv_pct if timing and timing.noise else None
    known = [(v, s) for v, s in ((step_cv, "profiler steps, robust"), (run_cv, "timed runs")) if v is not None]
    noise_pct, source = max(known) if known else (None, "")
    ops = trace.cpu_ops
    return Facts(
        trace=trace, summary=summary, sidecar=sidecar, gpu=bool(trace.has_gpu),
        compiled="compiled" in mode or side_mode == "compiled",
        graphed="cudagraph" in mode or side_mode == "cudagraph",
        static_cache=((sidecar or {}).get("compile") or {}).get("kv_cache") == "static",
        shapes=bool(len(ops)) and any(d is not None for d in ops["input_dims"]),
        noise_pct=noise_pct, noise_source=source, syncs=syncs)


# -- preconditions -------------------------------------------------------------------------------

PRECONDITIONS = {
    "gpu": (lambda f: f.gpu, "the trace recorded GPU activity (no GPU advice for a CPU run)"),
    "not_compiled": (lambda f: not f.compiled, "the run is not compiled (no torch.compile advice to a compiled run)"),
    "not_graphed": (lambda f: not f.graphed, "the run replays no CUDA graphs (no CUDA-graph advice to a graphed run)"),
    "shapes": (lambda f: f.shapes, "the trace recorded input shapes (record_shapes=True)"),
    "growing_cache": (lambda f: not f.static_cache, "the capture did not use a static KV cache"),
}


def _quality(effect, threshold, f):
    """(ok, words): the effect clears its threshold by more than the measured noise."""
    if f.noise_pct is None:
        return True, "noise not measured (fewer than three profiler steps and no capture sidecar)"
    margin = 100.0 * (effect - threshold) / threshold if threshold else float("inf")
    words = (f"margin over the threshold {margin:.0f}% > noise {f.noise_pct:.1f}% "
             f"(CV of the {f.noise_source})")
    return margin > f.noise_pct, words


# -- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    needs: tuple          # keys of PRECONDITIONS
    thresholds: dict
    check: object         # (Facts, thresholds) -> None | (effect, threshold or None, text, action, Evidence)
    summary: str


def _gap_items(f, cause, n=3):
    g = f.gaps()
    g = g[g["cause"] == cause].nlargest(n, "dur_us")
    return [Item(kind="gap", name=cause.replace("_", "-"), time_us=float(r.dur_us), start_us=float(r.start_us),
                 detail=f"after {r.before or '—'}; before {r.after or '—'}") for r in g.itertuples()]


def _kernels(f, classes, n=3):
    """The top rows of summary.kernels in `classes`: GPU kernels, or the CPU ops of a CPU trace."""
    return [Item(kind="kernel" if f.gpu else "op", name=k.name, time_us=k.time_us, count=k.count, detail=k.cls)
            for k in f.summary.kernels if classes is None or k.cls in classes][:n]


def _launch_bound(f, t):
    host = f.gap_share("host_bound")
    if f.idle_pct < t["idle_pct"] or host < t["host_bound_share"]:
        return None
    g = f.summary.gaps.by_cause["host_bound"]
    all_gaps = f.gaps()
    largest = float(all_gaps.loc[all_gaps["cause"] == "host_bound", "dur_us"].max())
    if largest > g.total_us * t["one_gap_max_share"] / 100:
        return None  # one long pause (data loading, a sleep), not launch overhead: see large_gap
    kernels = sum(c.count for c in f.summary.classes.values())
    busy_kernel = sum(c.time_us for c in f.summary.classes.values())
    steps = len(f.trace.steps)
    launches = f.summary.launches.count
    ev = Evidence(numbers={"idle_pct": round(f.idle_pct, 1), "host_bound_share_of_idle_pct": round(host, 1),
                   "host_bound_gaps": g.count, "host_bound_us": round(g.total_us, 1),
                   "mean_kernel_us": round(busy_kernel / kernels, 2) if kernels else None,
                   "launches": launches, **({"launches_per_step": round(launches / steps)} if steps else {})},
                  items=_gap_items(f, "host_bound"))
    action = ("Switch the compile mode to \"reduce-overhead\" (it replays the compiled step as a CUDA graph)"
              if f.compiled else
              "Replay the step as a CUDA graph: torch.compile(model, mode=\"reduce-overhead\"), or capture it "
              "with torch.cuda.graphs (static input buffers)")
    text = (f"Launch-bound: the GPU is idle {f.idle_pct:.0f}% of the window and {host:.0f}% of that idle time is "
            f"in host-bound gaps ({g.count} gaps, {g.total_us / 1000:.2f} ms): the CPU does not issue "
            "kernels fast enough to keep the GPU busy.")
    action += "; one graph launch per step then replaces one launch per kernel."
    return f.idle_pct, t["idle_pct"], text, action, ev


_SYNC_ADVICE = (  # innermost CPU op around the blocking call -> what caused it, what to do
    (r"_local_scalar_dense|::item$|is_nonzero", ".item() (or a Python bool/if on a tensor)",
     "keep the value on the device (torch.where, masks) or read it once per step, not per iteration"),
    (r"::nonzero|masked_select|::unique", "an op whose output size depends on the data (nonzero, masked_select)",
     "use a fixed-size form (torch.where, nonzero_static) so the host does not wait"),
    (r"::to$|_to_copy|::copy_|::cpu$|::tolist", ".cpu() / .to() / .tolist() (a device-to-host copy)",
     "copy with non_blocking=True into pinned memory, or move the read out of the loop"),
)


def _sync_gaps(f, t):
    sync = f.gap_share("sync")
    if f.idle_pct < t["idle_pct"] or sync < t["sync_share"]:
        return None
    g = f.gaps()
    gs = g[g["cause"] == "sync"]
    ops = _blocking_ops(f, gs)
    top = ops[0] if ops else None
    cause, advice = ("a blocking synchronisation", "find the .item()/.cpu()/synchronize() in the loop")
    if top:
        for regex, what, fix in _SYNC_ADVICE:
            if re.search(regex, top.name):
                cause, advice = what, fix
                break
    by = f.summary.gaps.by_cause["sync"]
    text = (f"Sync-bound: {sync:.0f}% of the GPU's idle time ({by.total_us / 1000:.2f} ms in {by.count} gaps) "
            "is spent while the host waits for the device"
            + (f"; the blocking call sits in {top.name} ({top.count}×, {top.time_us / 1000:.2f} ms), i.e. {cause}."
               if top else "."))
    ev = Evidence(numbers={"idle_pct": round(f.idle_pct, 1), "sync_share_of_idle_pct": round(sync, 1),
                           "sync_gaps": by.count, "sync_gap_us": round(by.total_us, 1)},
                  items=ops[:3] + _gap_items(f, "sync", 2))
    return sync, t["sync_share"], text, advice[0].upper() + advice[1:] + ".", ev


def _blocking_ops(f, gap_rows):
    """The innermost CPU op around each blocking host call that overlaps a sync gap, by name."""
    ts, end = (np.asarray(a, dtype=float) for a in f.syncs)
    if not len(ts) or not len(gap_rows):
        return []
    gs, ge = gap_rows["start_us"].to_numpy(), (gap_rows["start_us"] + gap_rows["dur_us"]).to_numpy()
    order = np.argsort(gs)
    gs, ge = gs[order], ge[order]
    # a call overlaps a gap when it starts before the gap ends and ends after it starts
    i = np.searchsorted(gs, end, side="left") - 1
    hit = (i >= 0) & (ts < ge[np.clip(i, 0, None)])
    agg = {}
    around = _innermost_around(f.trace.cpu_ops)
    for s, e in zip(ts[hit], end[hit]):
        name = around(s, e) or "(no CPU op around the call)"
        n, tot, first = agg.get(name, (0, 0.0, s))
        agg[name] = (n + 1, tot + (e - s), first)
    items = [Item(kind="op", name=name, time_us=float(tot), count=n, start_us=float(first),
                  detail="host blocked in this op")
             for name, (n, tot, first) in agg.items()]
    return sorted(items, key=lambda x: -x.time_us)


def _innermost_around(ops):
    """A function (start, end) -> the name of the shortest CPU op, on any thread, that encloses
    [start, end] (the first in cpu_ops order on a tie), or None.

    Ops enclosing an interval are the last op of a thread starting at or before it and that
    op's ancestors (cpu_ops' `parent`), so each call costs a binary search and a walk up one
    chain per thread, not a scan of every op: linear in the trace, not quadratic."""
    o_ts, o_end = ops["ts"].to_numpy(float), ops["end"].to_numpy(float)
    o_dur, parent = o_end - o_ts, ops["parent"].to_numpy()
    names = ops["name"]
    key = ops["pid"].to_numpy().astype(np.int64), ops["tid"].to_numpy().astype(np.int64)
    change = np.flatnonzero((key[0][1:] != key[0][:-1]) | (key[1][1:] != key[1][:-1])) + 1
    bounds = list(zip([0, *change.tolist()], [*change.tolist(), len(ops)])) if len(ops) else []

    def around(s, e):
        best = None
        for a, b in bounds:
            j = a + int(np.searchsorted(o_ts[a:b], s, side="right")) - 1
            while j >= a and o_end[j] < e:
                j = int(parent[j])
            if j < a:
                continue
            while parent[j] >= 0 and o_dur[parent[j]] == o_dur[j]:
                j = int(parent[j])  # same length: the earlier (outer) op, as a scan would pick
            if best is None or (o_dur[j], j) < (o_dur[best], best):
                best = j
        return None if best is None else str(names.iat[best])
    return around


_COPY = re.compile(r"^Memcpy (?:HtoD|DtoH)")


def _host_copies(f, t):
    gpu = f.trace.gpu
    copies = gpu[name_mask(gpu["name"], _COPY)]
    busy = f.summary.temporal.busy_us
    total = float(copies["dur"].sum())
    share = 100.0 * total / busy if busy else 0.0
    if share < t["copy_pct_of_busy"]:
        return None
    by = copies.groupby(copies["name"].astype(str), observed=True)["dur"].agg(["count", "sum"])
    by = by.sort_values("sum", ascending=False)
    items = [Item(kind="kernel", name=name, time_us=float(r["sum"]), count=int(r["count"]))
             for name, r in by.iterrows()]
    pageable = any("Pageable" in i.name for i in items)
    action = ("Pin the host buffers (tensor.pin_memory(), DataLoader(pin_memory=True)) and copy with "
              "non_blocking=True so copies overlap compute" if pageable else
              "Keep tensors on the device across steps, or batch small copies into one")
    text = (f"Host↔device copies take {share:.0f}% of the GPU's busy time ({total / 1000:.2f} ms, "
            f"{int(by['count'].sum())} copies)" + ("; some come from pageable host memory, which the GPU "
                                                   "cannot read asynchronously." if pageable else "."))
    return share, t["copy_pct_of_busy"], text, action + ".", Evidence(
        numbers={"copy_share_of_busy_pct": round(share, 1), "copy_us": round(total, 1), "copies": int(by["count"].sum())},
        items=items)


def _memory_bound(f, t):
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
    return share, t["norm_elementwise_pct"], text, action + ".", Evidence(
        numbers=nums, items=_kernels(f, ("normalization", "elementwise")))


# Dynamo/Inductor compile regions as torch.profiler records them ("_compile.compile_inner (dynamo_timed)",
# "entire_frame_compile", "compile_attempt_0", "inductor_compile", autotuning). Not "TorchDynamo Cache
# Lookup": that is the guard check every call of a compiled function makes.
_COMPILE = re.compile(r"\(dynamo_timed\)$|^_compile\.|^entire_frame_compile$|^compile_attempt_\d+$|^dynamo$|"
                      r"^compile_fx|^inductor_compile|^CachingAutotuner|^async_compile|^create_aot_dispatcher|"
                      r"^backend_compile$")


def _compile_in_window(f, t):
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
    return share, t["compile_pct"], text, action + ".", Evidence(
        numbers={"compile_us": round(spent, 1), "compile_share_of_window_pct": round(share, 1)}, items=items)


_GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::linear", "aten::matmul")


def _small_gemms(f, t):
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
    return f.pct("tensor_contraction"), t["gemm_pct"], text, action + ".", Evidence(
        numbers={"tensor_contraction_pct": round(f.pct("tensor_contraction"), 1),
                 "gemm_share_of_limit_pct": round(achieved, 1),
         "median_rows_m": median_m, "gemm_ops": len(m)},
        items=_kernels(f, ("tensor_contraction",)))


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


def _gpu_bound(f, t):
    busy = f.summary.temporal.busy_pct
    if busy < t["busy_pct"]:
        return None
    text = (f"GPU-bound: the GPU is busy {busy:.0f}% of the window, so launch overhead no longer matters; "
            "speed-ups now come from faster kernels.")
    return busy, t["busy_pct"], text, "Work on the top kernels and classes below (fusion, precision, shapes).", \
        Evidence(numbers={"busy_pct": round(busy, 1)}, items=_kernels(f, None))


def _large_gap(f, t):
    g = f.gaps()
    span = f.summary.window_us.span
    if not len(g) or not span:
        return None
    r = g.loc[g["dur_us"].idxmax()]
    share = 100.0 * float(r["dur_us"]) / span
    if share < t["gap_share_of_window_pct"]:
        return None
    text = (f"One idle gap of {float(r['dur_us']) / 1000:.2f} ms ({share:.0f}% of the window, cause "
            f"{r['cause'].replace('_', '-')}) stands out, after {r['before'] or '—'}.")
    return share, t["gap_share_of_window_pct"], text, ("Open the trace in Perfetto at that time and see what the CPU "
                                                 "does there (data loading, logging, a host sync)."), Evidence(
        numbers={"gap_us": round(float(r["dur_us"]), 1), "gap_share_of_window_pct": round(share, 1)},
        items=[Item(kind="gap", name=r["cause"].replace("_", "-"), time_us=float(r["dur_us"]),
                    start_us=float(r["start_us"]),
                    detail=f"after {r['before'] or '—'}; before {r['after'] or '—'}")])


def _unclassified(f, t):
    other = f.pct("other")
    if other < t["other_pct"]:
        return None
    what = "kernel" if f.gpu else "op"
    text = f"{other:.0f}% of {what} time is in {what}s profkit could not classify (class \"other\")."
    return other, t["other_pct"], text, ("Check the top rows of class other below; report the names so a "
                                         "rule can be added (profkit/analysis/rules.py)."), Evidence(
        numbers={"other_pct": round(other, 1)}, items=_kernels(f, ("other",)))


def _growing_kv_cache(f, t):
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
    return share, t["cat_pct"], text, action + ".", Evidence(
        numbers={"cat_pct": round(share, 2), "cat_median_us": round(median_us, 2), "cat_us": round(summed, 1),
                 "cat_calls": int(len(cats)), "cat_calls_counted": int(len(durs)),
                 "grows_from": grown[0][axis], "grows_to": grown[-1][axis]}, items=items)


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
        m = np.zeros(len(ts), bool)
        for s, e in zip(regions["ts"], regions["end"]):
            m |= (ts >= s) & (ts <= e)
        return m

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


def _cuda_graphs(f, t):
    cg = f.summary.cuda_graphs
    if not cg.launches:
        return None
    text = (f"{cg.launches} CUDA-graph launches replay {cg.kernels} kernels "
            f"({cg.kernels_per_launch_mean or 0:.0f} per launch on average).")
    return None, None, text, "Nothing to do: launch overhead is already amortised inside the graphs.", Evidence(
        numbers={"graph_launches": cg.launches, "graph_kernels": cg.kernels})


def _cudagraph_whatif(f, t):
    """Cites the what-if model (whatif.py): the step CUDA graphs would give, from this trace."""
    cg = f.summary.whatif.cudagraph if f.summary.whatif else None
    if cg is None or not cg.measured_step_us:
        return None
    saved = 100.0 * (1 - cg.step_us / cg.measured_step_us)
    if saved < t["saved_pct"]:
        return None
    ms = lambda us: f"{us / 1000:.3g} ms"  # noqa: E731
    text = (f"CUDA graphs would take the step from {ms(cg.measured_step_us)} to {ms(cg.step_us)} "
            f"(×{cg.speedup:.2f}, range ×{cg.low:.2f}–×{cg.high:.2f}), predicted from this trace: the GPU "
            f"work ({ms(cg.work_us)} per step) stays, {ms(cg.removed_gap_us)} of host-bound gaps go, "
            f"{ms(cg.kept_gap_us)} of other gaps stay (the What-if section lists the assumptions).")
    blockers = cg.blockers
    items = [Item(kind="op", name=op, time_us=0.0, count=n, detail=f"{BLOCKER_LABELS[b.kind]}: {b.what}")
             for b in blockers for op, n in b.ops]
    if blockers:
        text += (f" {sum(b.count for b in blockers)} blockers inside the steps stop a whole-step capture "
                 f"({', '.join(sorted({BLOCKER_LABELS[b.kind] for b in blockers}))}).")
        action = ("Remove the blockers first (keep values on the device, move syncs and host copies out of the "
                  "step), then capture the step as one graph")
    else:
        action = ("Capture the whole step as one graph: torch.cuda.graph + replay with static input buffers, or "
                  "torch.compile(mode=\"reduce-overhead\")")
    nums = {"measured_step_us": round(cg.measured_step_us, 1), "predicted_step_us": round(cg.step_us, 1),
            "speedup": round(cg.speedup, 2), "speedup_low": round(cg.low, 2),
            "speedup_high": round(cg.high, 2), "saved_pct": round(saved, 1),
            "blockers": sum(b.count for b in blockers)}
    return saved, t["saved_pct"], text, action + ".", Evidence(numbers=nums, items=items)


RULES = (
    Rule("kv_cache_growth", "warn", ("shapes", "growing_cache"), {"cat_pct": 1.0}, _growing_kv_cache,
         "aten::cat with one dimension growing call after call takes >= cat_pct% of (decode) time, counted as "
         "calls x median duration -> static KV cache"),
    Rule("launch_bound", "warn", ("gpu", "not_graphed"),
         {"idle_pct": 20.0, "host_bound_share": 50.0, "one_gap_max_share": 50.0}, _launch_bound,
         "GPU idle >= idle_pct% and host-bound gaps >= host_bound_share% of idle, no single gap above "
         "one_gap_max_share% of them -> CUDA graphs"),
    Rule("sync_gaps", "warn", ("gpu",), {"idle_pct": 10.0, "sync_share": 30.0}, _sync_gaps,
         "GPU idle >= idle_pct% and sync gaps >= sync_share% of idle -> the op that blocked the host"),
    Rule("host_copies", "warn", ("gpu",), {"copy_pct_of_busy": 10.0}, _host_copies,
         "HtoD/DtoH memcpy >= copy_pct_of_busy% of GPU busy time -> pinned memory, non_blocking"),
    Rule("memory_bound_fusion", "warn", ("gpu", "not_compiled"), {"norm_elementwise_pct": 30.0}, _memory_bound,
         "normalization + elementwise >= norm_elementwise_pct% of kernel time -> fusion"),
    Rule("compile_in_window", "warn", (), {"compile_pct": 5.0}, _compile_in_window,
         "Dynamo/Inductor compile regions cover >= compile_pct% of the window -> warm up before profiling"),
    Rule("small_gemm_batching", "info", ("shapes",),
         {"gemm_pct": 20.0, "gemm_efficiency_pct": 25.0, "small_rows": 256}, _small_gemms,
         "GEMMs >= gemm_pct% of time below gemm_efficiency_pct% of the limit, median M <= small_rows -> batch"),
    Rule("large_gap", "info", ("gpu",), {"gap_share_of_window_pct": 10.0}, _large_gap,
         "one idle gap >= gap_share_of_window_pct% of the window -> look at it in Perfetto"),
    Rule("gpu_bound", "good", ("gpu",), {"busy_pct": 90.0}, _gpu_bound,
         "GPU busy >= busy_pct% -> faster kernels, not launch overhead"),
    Rule("cuda_graphs", "info", ("gpu",), {}, _cuda_graphs, "CUDA-graph launches present"),
    Rule("cudagraph_whatif", "info", ("gpu", "not_graphed"), {"saved_pct": 10.0}, _cudagraph_whatif,
         "the what-if model predicts CUDA graphs save >= saved_pct% of the step -> capture it (blockers first)"),
    Rule("unclassified", "info", (), {"other_pct": 10.0}, _unclassified,
         "class other >= other_pct% -> names to add to the classifier"),
)


def findings(trace, summary, sidecar=None, syncs=(np.empty(0), np.empty(0))):
    """Every rule of RULES whose preconditions hold and whose check fires, in table order."""
    f = facts(trace, summary, sidecar, syncs)
    timing = timing_of(sidecar)
    noise = timing.noise if timing else None
    caveat = (f"the capture's timing was noisy ({'; '.join(noise.reasons)}): times and shares "
              "may be inflated" if noise and noise.verdict == "noisy" else None)
    out = []
    for rule in RULES:
        checked = []
        for key in rule.needs:
            ok, words = PRECONDITIONS[key]
            if not ok(f):
                break
            checked.append(words)
        else:
            hit = rule.check(f, rule.thresholds)
            if hit is None:
                continue
            effect, threshold, text, action, evidence = hit
            if threshold is not None:
                ok, words = _quality(effect, threshold, f)
                if not ok:
                    continue
                checked.append(words)
            checked += [f"{k} = {v:g}" for k, v in rule.thresholds.items()]
            if caveat:
                checked.append(caveat)
            out.append(Finding(rule=rule.id, severity=rule.severity, text=text, action=action, evidence=evidence,
                               applies_when=checked))
    return out
