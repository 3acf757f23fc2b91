"""Checks of the rules about time: launch-bound and sync-bound GPUs, host copies, a GPU-bound run,
one large gap, CUDA graphs and what the what-if predicts for them."""

import re

import numpy as np

from profkit.analysis.advice.engine import Hit, gap_items, top_items
from profkit.analysis.result import BLOCKER_LABELS, Evidence, Item
from profkit.trace.model import name_mask


def launch_bound(f, t):
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
                  items=gap_items(f, "host_bound"))
    action = ("Switch the compile mode to \"reduce-overhead\" (it replays the compiled step as a CUDA graph)"
              if f.compiled else
              "Replay the step as a CUDA graph: torch.compile(model, mode=\"reduce-overhead\"), or capture it "
              "with torch.cuda.graphs (static input buffers)")
    text = (f"Launch-bound: the GPU is idle {f.idle_pct:.0f}% of the window and {host:.0f}% of that idle time is "
            f"in host-bound gaps ({g.count} gaps, {g.total_us / 1000:.2f} ms): the CPU does not issue "
            "kernels fast enough to keep the GPU busy.")
    action += "; one graph launch per step then replaces one launch per kernel."
    return Hit(f.idle_pct, t["idle_pct"], text, action, ev)


_SYNC_ADVICE = (  # innermost CPU op around the blocking call -> what caused it, what to do
    (r"_local_scalar_dense|::item$|is_nonzero", ".item() (or a Python bool/if on a tensor)",
     "keep the value on the device (torch.where, masks) or read it once per step, not per iteration"),
    (r"::nonzero|masked_select|::unique", "an op whose output size depends on the data (nonzero, masked_select)",
     "use a fixed-size form (torch.where, nonzero_static) so the host does not wait"),
    (r"::to$|_to_copy|::copy_|::cpu$|::tolist|::tensor$|::as_tensor",
     "a blocking host↔device copy (.to(), .cpu(), .tolist(), torch.tensor(...) of host data)",
     "make the tensor on the device, or copy with non_blocking=True from or into pinned memory; read device "
     "values once per step, not per iteration; CUDA graphs cannot remove this wait"),
)


def sync_gaps(f, t):
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
            + (f"; the host was blocked in {top.detail.removeprefix('host blocked in ')} inside {top.name} "
               f"({top.count}×, {top.time_us / 1000:.2f} ms), i.e. {cause}." if top else "."))
    ev = Evidence(numbers={"idle_pct": round(f.idle_pct, 1), "sync_share_of_idle_pct": round(sync, 1),
                           "sync_gaps": by.count, "sync_gap_us": round(by.total_us, 1)},
                  items=ops[:3] + gap_items(f, "sync", 2))
    return Hit(sync, t["sync_share"], text, advice[0].upper() + advice[1:] + ".", ev)


def _blocking_ops(f, gap_rows):
    """The innermost CPU op around each blocking host call that overlaps a sync gap, by name."""
    calls = f.tables.blocking_calls()
    ts, end, names = calls["ts"].to_numpy(float), calls["end"].to_numpy(float), calls["name"].to_numpy()
    if not len(ts) or not len(gap_rows):
        return []
    gs, ge = gap_rows["start_us"].to_numpy(), (gap_rows["start_us"] + gap_rows["dur_us"]).to_numpy()
    order = np.argsort(gs)
    gs, ge = gs[order], ge[order]
    # a call overlaps a gap when it starts before the gap ends and ends after it starts
    i = np.searchsorted(gs, end, side="left") - 1
    hit = (i >= 0) & (ts < ge[np.clip(i, 0, None)])
    agg = {}
    ops = f.tables.enclosing()
    for s, e, call in zip(ts[hit], end[hit], names[hit]):
        key = (ops.shortest_around(s, e) or "(no CPU op around the call)", call)
        n, tot, first = agg.get(key, (0, 0.0, s))
        agg[key] = (n + 1, tot + (e - s), first)
    items = [Item(kind="op", name=name, time_us=float(tot), count=n, start_us=float(first),
                  detail=f"host blocked in {call}")
             for (name, call), (n, tot, first) in agg.items()]
    return sorted(items, key=lambda x: -x.time_us)


_COPY = re.compile(r"^Memcpy (?:HtoD|DtoH)")


def host_copies(f, t):
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
    return Hit(share, t["copy_pct_of_busy"], text, action + ".", Evidence(
        numbers={"copy_share_of_busy_pct": round(share, 1), "copy_us": round(total, 1), "copies": int(by["count"].sum())},
        items=items))


def gpu_bound(f, t):
    busy = f.summary.temporal.busy_pct
    if busy < t["busy_pct"]:
        return None
    comm = f.summary.communication
    busy_us = busy * f.summary.window_us.span / 100.0
    if comm is not None and busy_us and comm.exposed_us >= t["exposed_share_of_busy"] * busy_us / 100.0:
        return None  # busy waiting on the links: exposed_communication says what to try
    text = (f"GPU-bound: the GPU is busy {busy:.0f}% of the window, so launch overhead no longer matters; "
            "speed-ups now come from faster kernels.")
    return Hit(busy, t["busy_pct"], text, "Work on the top kernels and classes below (fusion, precision, shapes).",
        Evidence(numbers={"busy_pct": round(busy, 1)}, items=top_items(f, None)))


def exposed_communication(f, t):
    comm, span = f.summary.communication, f.summary.window_us.span
    if comm is None or not span or not comm.time_us:
        return None
    pct = 100.0 * comm.exposed_us / span
    if pct < t["exposed_pct"]:
        return None
    overlap = "none" if comm.overlap_pct is None else f"{comm.overlap_pct:.0f}%"
    text = (f"Communication-bound: collective kernels run {comm.time_us / 1000:.2f} ms and "
            f"{comm.exposed_us / 1000:.2f} ms of it ({pct:.0f}% of the window) is exposed, with no compute "
            f"beside it (overlap achieved: {overlap}); faster kernels would not shorten that time.")
    action = ("Overlap communication with compute (DDP: gradient buckets that start during backward, "
              "bucket_cap_mb; FSDP: forward/backward prefetch; async collectives), send fewer and larger "
              "collectives, or choose a parallelism that moves less data; compare each collective's bus "
              "bandwidth with the link's.")
    items = [Item(kind="collective", name=c.name, time_us=c.time_us, count=c.count,
                  detail=", ".join(x for x in (c.dtype, f"{c.group_size} ranks" if c.group_size else None,
                                              f"bus {c.busbw_gbs:.1f} GB/s" if c.busbw_gbs else None) if x))
             for c in comm.collectives[:3]] or top_items(f, {"communication"})  # no collective metadata: kernels
    return Hit(pct, t["exposed_pct"], text, action, Evidence(
        numbers={"exposed_pct_of_window": round(pct, 1), "exposed_us": round(comm.exposed_us, 1),
                 "communication_us": round(comm.time_us, 1), "overlap_pct": comm.overlap_pct}, items=items))


def large_gap(f, t):
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
    return Hit(share, t["gap_share_of_window_pct"], text, ("Open the trace in Perfetto at that time and see what the CPU "
                                                 "does there (data loading, logging, a host sync)."), Evidence(
        numbers={"gap_us": round(float(r["dur_us"]), 1), "gap_share_of_window_pct": round(share, 1)},
        items=[Item(kind="gap", name=r["cause"].replace("_", "-"), time_us=float(r["dur_us"]),
                    start_us=float(r["start_us"]),
                    detail=f"after {r['before'] or '—'}; before {r['after'] or '—'}")]))


def cuda_graphs(f, t):
    cg = f.summary.cuda_graphs
    if not cg.launches:
        return None
    alone = f.summary.launches.count  # kernels launched one by one, outside every graph
    graphed = 100.0 * cg.kernels / (cg.kernels + alone) if cg.kernels + alone else 0.0
    text = (f"{cg.launches} CUDA-graph launches replay {cg.kernels} kernels "
            f"({cg.kernels_per_launch_mean or 0:.0f} per launch on average)")
    if graphed >= t["graphed_pct"]:
        text += f": {graphed:.1f}% of the kernels replay from graphs."
        action = "Nothing to do for launch overhead: it is amortised inside the graphs."
    else:
        text += (f", but {alone} kernels ({100 - graphed:.1f}%) are still launched one by one, each paying its "
                 "launch.")
        action = ("Capture the rest of the step too (widen the torch.cuda.graph region, or torch.compile "
                  "mode=\"reduce-overhead\" on the parts outside it); the what-if says what that buys.")
    return Hit(None, None, text, action, Evidence(
        numbers={"graph_launches": cg.launches, "graph_kernels": cg.kernels, "kernels_launched_alone": alone,
                 "graphed_kernels_pct": round(graphed, 1)}))


def cudagraph_whatif(f, t):
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
    return Hit(saved, t["saved_pct"], text, action + ".", Evidence(numbers=nums, items=items))
