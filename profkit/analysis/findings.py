"""Findings in plain words, each computed from one run's numbers by a stated rule.

Thresholds are module constants so the views can print them next to each
finding: a reader must be able to check why a sentence appeared. Comparisons
between runs are the report's (profkit.report.findings).
"""

from profkit.analysis.result import Finding

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


def _pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


def _gpu_findings(s, kernels):
    out = []
    idle, busy = s.temporal.idle_pct, s.temporal.busy_pct
    gaps = s.gaps
    host = _pct(gaps.by_cause["host_bound"].total_us, gaps.total_us)
    sync = _pct(gaps.by_cause["sync"].total_us, gaps.total_us)
    cg = s.cuda_graphs
    if idle >= IDLE_PCT and host >= HOST_BOUND_SHARE:
        fix = ("it already replays CUDA graphs, so the remaining host-bound gaps come from work outside them"
               if cg.launches else "CUDA graphs (or torch.compile mode=\"reduce-overhead\") would remove most of it")
        out.append(Finding(rule="launch_bound", severity="warn",
                           text=f"GPU idle {idle:.0f}% and {host:.0f}% of the idle time is in host-bound gaps: the "
                                f"run is launch-bound (the CPU does not issue kernels fast enough); {fix}.",
                           applies_when=f"idle ≥ {IDLE_PCT:g}% and host-bound gaps ≥ {HOST_BOUND_SHARE:g}% of "
                                        "idle time"))
    if idle >= IDLE_PCT and sync >= SYNC_SHARE:
        out.append(Finding(rule="sync_bound", severity="warn",
                           text=f"{sync:.0f}% of the idle time falls in gaps where a blocking synchronisation or "
                                "copy was in flight: look for .item(), .cpu(), .tolist() or synchronous copies in "
                                "the loop.",
                           applies_when=f"idle ≥ {IDLE_PCT:g}% and sync gaps ≥ {SYNC_SHARE:g}% of idle time"))
    span = s.window_us.span
    largest = gaps.largest[0] if gaps.largest else None
    if largest and _pct(largest.dur_us, span) >= BIG_GAP_PCT:
        out.append(Finding(rule="big_gap", severity="info",
                           text=f"One idle gap of {largest.dur_us / 1000:.2f} ms ({_pct(largest.dur_us, span):.0f}% "
                                f"of the window, {largest.cause}) stands out: see what the CPU does there in "
                                "Perfetto.",
                           applies_when=f"a single gap ≥ {BIG_GAP_PCT:g}% of the window"))
    if kernels and idle >= IDLE_PCT:
        mean = sum(c.time_us for c in s.classes.values()) / kernels
        if mean < SMALL_KERNEL_US:
            out.append(Finding(rule="small_kernels", severity="warn",
                               text=f"The average kernel runs {mean:.1f} µs, about what launching it costs: kernels "
                                    "are too small to hide launch overhead; fuse them (torch.compile) or replay them "
                                    "as a CUDA graph.",
                               applies_when=f"mean kernel time < {SMALL_KERNEL_US:g} µs and idle ≥ {IDLE_PCT:g}%"))
    if busy >= GPU_BOUND_BUSY:
        out.append(Finding(rule="gpu_bound", severity="good",
                           text=f"GPU busy {busy:.0f}% of the window: the run is GPU-bound; further speed-up comes "
                                "from faster kernels (classes and top kernels below), not from launch overhead.",
                           applies_when=f"busy ≥ {GPU_BOUND_BUSY:g}%"))
    if cg.launches:
        out.append(Finding(rule="cuda_graphs", severity="info",
                           text=f"{cg.launches} CUDA-graph launches replay {cg.kernels} GPU activities "
                                f"({cg.kernels_per_launch_mean:.0f} per launch).",
                           applies_when="CUDA graphs found"))
    return out


def _class_findings(s, is_cpu):
    out = []
    pct = {c: v.pct for c, v in s.classes.items()}
    what = "op time" if is_cpu else "kernel time"
    mem = pct.get("normalization", 0.0) + pct.get("elementwise", 0.0)
    if mem >= MEMORY_BOUND_PCT:
        out.append(Finding(rule="memory_bound_classes", severity="warn",
                           text=f"Normalization and elementwise ops take {mem:.0f}% of {what}. They move data rather "
                                "than compute (in the paper's BERT: ≈39% of runtime for 0.2% of the FLOPs): fusing "
                                "them (torch.compile) cuts the traffic.",
                           applies_when=f"normalization + elementwise ≥ {MEMORY_BOUND_PCT:g}% of {what}"))
    if pct.get("other", 0.0) >= OTHER_PCT:
        out.append(Finding(rule="unclassified", severity="info",
                           text=f"{pct['other']:.0f}% of {what} is in kernels profkit could not classify (class "
                                "\"other\"): see the top kernels table.",
                           applies_when=f"other ≥ {OTHER_PCT:g}%"))
    if pct.get("memory", 0.0) >= COPY_PCT:
        out.append(Finding(rule="copies", severity="warn",
                           text=f"Copies and memsets take {pct['memory']:.0f}% of {what}: check for host↔device "
                                "copies inside the loop (pin memory, non_blocking=True) and needless "
                                ".contiguous()/.to() calls.",
                           applies_when=f"memory class ≥ {COPY_PCT:g}%"))
    # Only the classes the paper calls memory-bound: a GEMM's MUE is low by nature.
    for cls in ("normalization", "elementwise"):
        row = s.efficiency.classes.get(cls)
        mue = row.mue_pct if row else None
        if mue is not None and pct.get(cls, 0.0) >= CLASS_PCT and mue < LOW_MUE_PCT:
            out.append(Finding(rule="low_mue", severity="warn",
                               text=f"{cls.replace('_', ' ').capitalize()} takes {pct[cls]:.0f}% of {what} at "
                                    f"{mue:.0f}% MUE: memory-bound and far from the bandwidth limit; fuse it.",
                               applies_when=f"{cls} ≥ {CLASS_PCT:g}% of time and MUE < {LOW_MUE_PCT:g}%"))
    if s.cpu is not None and s.cpu.framework_overhead_pct >= FRAMEWORK_PCT:
        out.append(Finding(rule="framework_overhead", severity="warn",
                           text=f"{s.cpu.framework_overhead_pct:.0f}% of the profiled CPU time is outside leaf ops "
                                "(Python and framework overhead): torch.compile removes much of it.",
                           applies_when=f"framework overhead ≥ {FRAMEWORK_PCT:g}%"))
    return out


def run_findings(summary, kernels):
    """Findings of one run. `kernels`: kernel executions in the trace (None for CPU traces)."""
    is_cpu = summary.device.kind == "cpu"
    out = [] if is_cpu else _gpu_findings(summary, kernels)
    return out + _class_findings(summary, is_cpu)
