"""Findings in plain words, each computed from the numbers by a stated rule.

Thresholds are module constants so the page can print them next to each
finding: a reader must be able to check why a sentence appeared.
"""

from dataclasses import dataclass

IDLE_PCT = 20.0            # idle share of the window worth explaining
HOST_BOUND_SHARE = 50.0    # share of idle time in host-bound gaps => launch-bound
SYNC_SHARE = 30.0          # share of idle time in sync gaps => sync-bound
BIG_GAP_PCT = 10.0         # one gap this large a share of the window stands out
SMALL_KERNEL_US = 10.0     # mean kernel shorter than this cannot hide a launch
GPU_BOUND_BUSY = 90.0      # busy share above which launch overhead no longer matters
MEMORY_BOUND_PCT = 30.0    # normalization + elementwise share of time
OTHER_PCT = 10.0           # unclassified share worth a warning
COPY_PCT = 10.0            # memcpy/memset share worth a warning
LOW_MUE_PCT = 50.0         # MUE below this for a memory-bound class taking >= CLASS_PCT of time
CLASS_PCT = 15.0
FRAMEWORK_PCT = 30.0       # CPU traces: time outside leaf ops


@dataclass
class Finding:
    level: str   # "warn" | "info" | "good"
    run: str     # run label, or "" for comparisons
    text: str
    rule: str


def _pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


def _gpu_findings(label, s, n):
    out = []
    temporal, gaps = s.get("temporal") or {}, s.get("gaps") or {}
    idle, busy = temporal.get("idle_pct") or 0.0, temporal.get("busy_pct") or 0.0
    by_cause = gaps.get("by_cause") or {}
    gap_total = gaps.get("total_us") or 0.0
    host = _pct((by_cause.get("host_bound") or {}).get("total_us", 0.0), gap_total)
    sync = _pct((by_cause.get("sync") or {}).get("total_us", 0.0), gap_total)
    graphs = (s.get("cuda_graphs") or {}).get("launches") or 0
    if idle >= IDLE_PCT and host >= HOST_BOUND_SHARE:
        fix = ("it already replays CUDA graphs, so the remaining host-bound gaps come from work outside them"
               if graphs else "CUDA graphs (or torch.compile mode=\"reduce-overhead\") would remove most of it")
        out.append(Finding("warn", label, f"GPU idle {idle:.0f}% and {host:.0f}% of the idle time is in host-bound "
                           f"gaps: the run is launch-bound (the CPU does not issue kernels fast enough); {fix}.",
                           f"idle ≥ {IDLE_PCT:g}% and host-bound gaps ≥ {HOST_BOUND_SHARE:g}% of idle time"))
    if idle >= IDLE_PCT and sync >= SYNC_SHARE:
        out.append(Finding("warn", label, f"{sync:.0f}% of the idle time falls in gaps where a blocking "
                           "synchronisation or copy was in flight: look for .item(), .cpu(), .tolist() or "
                           "synchronous copies in the loop.",
                           f"idle ≥ {IDLE_PCT:g}% and sync gaps ≥ {SYNC_SHARE:g}% of idle time"))
    span = (s.get("window_us") or {}).get("span") or 0.0
    largest = (gaps.get("largest") or [None])[0]
    if largest and _pct(largest["dur_us"], span) >= BIG_GAP_PCT:
        out.append(Finding("info", label, f"One idle gap of {largest['dur_us'] / 1000:.2f} ms "
                           f"({_pct(largest['dur_us'], span):.0f}% of the window, {largest.get('cause', '?')}) "
                           "stands out: see what the CPU does there in Perfetto.",
                           f"a single gap ≥ {BIG_GAP_PCT:g}% of the window"))
    if n["kernels"] and idle >= IDLE_PCT:
        busy_kernel_us = sum((c or {}).get("time_us", 0.0) for c in (s.get("classes") or {}).values())
        mean = busy_kernel_us / n["kernels"]
        if mean < SMALL_KERNEL_US:
            out.append(Finding("warn", label, f"The average kernel runs {mean:.1f} µs, about what launching it "
                               "costs: kernels are too small to hide launch overhead; fuse them (torch.compile) "
                               "or replay them as a CUDA graph.",
                               f"mean kernel time < {SMALL_KERNEL_US:g} µs and idle ≥ {IDLE_PCT:g}%"))
    if busy >= GPU_BOUND_BUSY:
        out.append(Finding("good", label, f"GPU busy {busy:.0f}% of the window: the run is GPU-bound; further "
                           "speed-up comes from faster kernels (classes and top kernels below), not from "
                           "launch overhead.", f"busy ≥ {GPU_BOUND_BUSY:g}%"))
    if graphs:
        cg = s.get("cuda_graphs") or {}
        out.append(Finding("info", label, f"{graphs} CUDA-graph launches replay {cg.get('kernels', 0)} GPU "
                           f"activities ({cg.get('kernels_per_launch') or 0:.0f} per launch).", "CUDA graphs found"))
    return out


def _class_findings(label, s, is_cpu):
    out = []
    classes = s.get("classes") or {}
    pct = {c: (v or {}).get("pct", 0.0) or 0.0 for c, v in classes.items()}
    what = "op time" if is_cpu else "kernel time"
    mem = pct.get("normalization", 0.0) + pct.get("elementwise", 0.0)
    if mem >= MEMORY_BOUND_PCT:
        out.append(Finding("warn", label, f"Normalization and elementwise ops take {mem:.0f}% of {what}. They "
                           "move data rather than compute (in the paper's BERT: ≈39% of runtime for 0.2% of "
                           "the FLOPs): fusing them (torch.compile) cuts the traffic.",
                           f"normalization + elementwise ≥ {MEMORY_BOUND_PCT:g}% of {what}"))
    if pct.get("other", 0.0) >= OTHER_PCT:
        out.append(Finding("info", label, f"{pct['other']:.0f}% of {what} is in kernels profkit could not "
                           "classify (class \"other\"): see the top kernels table.", f"other ≥ {OTHER_PCT:g}%"))
    if pct.get("memory", 0.0) >= COPY_PCT:
        out.append(Finding("warn", label, f"Copies and memsets take {pct['memory']:.0f}% of {what}: check for "
                           "host↔device copies inside the loop (pin memory, non_blocking=True) and needless "
                           ".contiguous()/.to() calls.", f"memory class ≥ {COPY_PCT:g}%"))
    eff = s.get("efficiency") or {}
    # Only the classes the paper calls memory-bound: a GEMM's MUE is low by nature.
    for cls in ("normalization", "elementwise"):
        mue = ((eff.get("classes") or {}).get(cls) or {}).get("mue_pct")
        if mue is not None and pct.get(cls, 0.0) >= CLASS_PCT and mue < LOW_MUE_PCT:
            out.append(Finding("warn", label, f"{cls.replace('_', ' ').capitalize()} takes {pct[cls]:.0f}% of "
                               f"{what} at {mue:.0f}% MUE: memory-bound and far from the bandwidth limit; fuse it.",
                               f"{cls} ≥ {CLASS_PCT:g}% of time and MUE < {LOW_MUE_PCT:g}%"))
    cpu = s.get("cpu") or {}
    fw = cpu.get("framework_overhead_pct")
    if fw is not None and fw >= FRAMEWORK_PCT:
        out.append(Finding("warn", label, f"{fw:.0f}% of the profiled CPU time is outside leaf ops (Python and "
                           "framework overhead): torch.compile removes much of it.",
                           f"framework overhead ≥ {FRAMEWORK_PCT:g}%"))
    return out


def _comparison(runs, numbers):
    base = next((i for i, r in enumerate(runs) if r.mode == "eager"), 0)
    b, out = numbers[base], []
    for r, n in zip(runs, numbers):
        if r is runs[base]:
            continue
        parts = []
        if b["idle_pct"] is not None and n["idle_pct"] is not None:
            parts.append(f"idle {b['idle_pct']:.0f}% → {n['idle_pct']:.0f}%")
        if b["launches_per_step"] and n["launches_per_step"] is not None:
            parts.append(f"launches per step {b['launches_per_step']:.0f} → {n['launches_per_step']:.0f}")
        elif b["launches"] and n["launches"] is not None:
            parts.append(f"launches {b['launches']} → {n['launches']}")
        if b["step_us"] and n["step_us"]:
            parts.append(f"wall time per step {b['step_us'] / 1000:.2f} → {n['step_us'] / 1000:.2f} ms "
                         f"({b['step_us'] / n['step_us']:.2f}×)")
        if parts:
            faster = b["step_us"] and n["step_us"] and n["step_us"] < b["step_us"]
            out.append(Finding("good" if faster else "info", "", f"{r.label} ({r.mode}) against "
                               f"{runs[base].label} ({runs[base].mode}): " + ", ".join(parts) + ".",
                               "comparison with the eager run (else the first run)"))
    return out


def findings(runs, numbers, compare=True):
    """All findings: per run, then (unless the runs are ranks of one job) the comparison against eager."""
    out = []
    for r, n in zip(runs, numbers):
        if not n["is_cpu"]:
            out += _gpu_findings(r.label, r.summary, n)
        out += _class_findings(r.label, r.summary, n["is_cpu"])
    if compare and len(runs) > 1:
        out += _comparison(runs, numbers)
    return out
