"""Headline numbers per run, side by side: computed once, formatted for the page."""

import math


def fmt_ms(us):
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return "—"
    ms = us / 1000.0
    return f"{ms:,.3f} ms" if ms < 10 else f"{ms:,.1f} ms"


def fmt_pct(p):
    if p is None:
        return "—"
    return f"{p:.2f}%" if 0 < abs(p) < 0.1 else f"{p:.1f}%"  # 0.03% of FLOPs is not 0.0%


def fmt_num(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def step_timing(trace, summary):
    """(number of steps, wall time per step in us, how it was measured).

    The CPU side of a step can finish long before its GPU work (a CUDA-graph
    replay returns at once), so a step's wall time runs from the first step's
    start to whichever ends later: the last step or the last GPU activity.
    """
    steps = trace.steps
    if len(steps):
        end = float(steps["end"].max())
        if trace.has_gpu:
            end = max(end, float(trace.gpu["end"].max()))
        n = len(steps)
        return n, (end - float(steps["ts"].min())) / n, f"{n} profiler steps"
    return 0, summary.window_us.span, "whole profiled window (no profiler steps)"


def _timing(run, key):
    timing = (run.sidecar or {}).get("timing") or {}
    v = timing.get(key)
    return v if isinstance(v, (int, float)) else None


def _new_tokens(run):
    v = (run.sidecar or {}).get("new_tokens")
    return v if isinstance(v, int) and v > 0 else None


def compute(run):
    """Raw numbers for one run (None where the trace or sidecar has no answer)."""
    s = run.summary
    n_steps, step_us, step_basis = step_timing(run.trace, s)
    is_cpu = s.device.kind == "cpu"
    # A CPU-only trace launches nothing: "0 launches" would read as a result.
    launches = None if is_cpu else s.launches.count
    graphs = None if is_cpu else s.cuda_graphs.launches
    if run.trace.has_gpu:
        kernels = int((run.trace.gpu["kind"] == "kernel").sum())
    else:
        kernels = sum(c.count for c in s.classes.values())
    tokens = _new_tokens(run)
    return {
        "n_steps": n_steps,
        "step_us": step_us,
        "step_basis": step_basis,
        "ttft_ms": _timing(run, "ttft_ms"),
        "decode_ms": _timing(run, "decode_ms_per_token"),
        "tokens_per_s": _timing(run, "tokens_per_s"),
        "total_ms": _timing(run, "total_ms"),
        "busy_pct": s.temporal.busy_pct,
        "idle_pct": s.temporal.idle_pct,
        "gap_count": s.gaps.count,
        "gap_total_us": s.gaps.total_us,
        "gap_max_us": s.gaps.max_us,
        "kernels": kernels,
        "launches": launches,
        "launches_per_step": launches / n_steps if launches is not None and n_steps else None,
        "launches_per_token": launches / tokens if launches is not None and tokens else None,
        "graph_launches": graphs,
        "prefill_us": _phase_wall(s.phases["prefill"]) if s.phases else None,
        "decode_us": _phase_wall(s.phases["decode"]) if s.phases else None,
        "is_cpu": is_cpu,
    }


def _phase_wall(phase):
    """Mean profiled wall time of one occurrence of a phase region."""
    if not phase.count:
        return None
    return phase.wall_us / phase.count


def speedups(runs, numbers):
    """Speed-up of each run over the first eager run, and what it is based on.

    Unprofiled timing from the sidecars is preferred (the profiler slows eager
    runs more than graph replays); otherwise the wall time per profiler step.
    """
    eager = [i for i, r in enumerate(runs) if r.mode == "eager"]
    if not eager or len(runs) < 2:
        return [None] * len(runs), None
    base = eager[0]
    if all(n["total_ms"] for n in numbers):
        key, basis = "total_ms", "unprofiled total time from the capture sidecars"
    elif all(n["step_us"] for n in numbers):
        key, basis = "step_us", "wall time per step in the traces"
    else:
        return [None] * len(runs), None
    ref = numbers[base][key]
    return [ref / n[key] for n in numbers], f"over {runs[base].label}, from {basis}"


def headline_rows(runs, numbers, compare=True):
    """Rows of (metric, [cell per run], note) for the side-by-side table; `compare`
    adds the speed-up over eager (not for ranks of one job, which run the same code)."""
    ups, up_basis = speedups(runs, numbers)
    any_cpu = any(n["is_cpu"] for n in numbers)
    busy_name = "Busy % (GPU; CPU op coverage on CPU traces)" if any_cpu else "GPU busy %"
    rows = [
        ("Mode", [r.mode for r in runs], "from the sidecar, else detected from the trace"),
        ("Wall time per step", [fmt_ms(n["step_us"]) for n in numbers], numbers[0]["step_basis"]),
        ("TTFT", [fmt_num(n["ttft_ms"], 2) + " ms" if n["ttft_ms"] is not None else "—" for n in numbers],
         "time to first token, measured outside the profiler (profkit captures)"),
        ("Decode latency per token", [fmt_num(n["decode_ms"], 2) + " ms" if n["decode_ms"] is not None else "—"
                                      for n in numbers], "profkit captures"),
        ("Tokens/s", [fmt_num(n["tokens_per_s"], 1) for n in numbers], "profkit captures"),
        ("Prefill region (profiled)", [fmt_ms(n["prefill_us"]) for n in numbers],
         "wall time of one \"prefill\" region in the trace (profiler overhead included)"),
        ("Decode region (profiled)", [fmt_ms(n["decode_us"]) for n in numbers],
         "wall time of one \"decode\" region in the trace"),
        (busy_name, [fmt_pct(n["busy_pct"]) for n in numbers], "union of all activity over the analysis window"),
        ("Idle %", [fmt_pct(n["idle_pct"]) for n in numbers], ""),
        ("Idle gaps (count / total)", [f"{fmt_num(n['gap_count'])} / {fmt_ms(n['gap_total_us'])}"
                                       if n["gap_count"] is not None else "—" for n in numbers], ""),
        ("Largest gap", [fmt_ms(n["gap_max_us"]) for n in numbers], ""),
        ("Kernels" if not any_cpu else "Kernels (classified ops on CPU traces)",
         [fmt_num(n["kernels"]) for n in numbers],
         "kernel executions, without copies and memsets" + ("; CPU: ops doing data work" if any_cpu else "")),
        ("Kernel launches", [fmt_num(n["launches"]) for n in numbers], "launch API calls on the CPU"),
        ("Launches per step", [fmt_num(n["launches_per_step"], 1) for n in numbers], ""),
        ("Launches per token", [fmt_num(n["launches_per_token"], 1) for n in numbers],
         "launches / new tokens (profkit captures)"),
        ("CUDA-graph launches", [fmt_num(n["graph_launches"]) for n in numbers], ""),
    ]
    if compare and up_basis:
        rows.append(("Speed-up over eager", [f"{u:.2f}×" if u else "—" for u in ups], up_basis))
    # A row with nothing in any column only adds noise.
    return [row for row in rows if any(c not in ("—", "— / —") for c in row[1])]
