"""Headline numbers per run, side by side: computed once, formatted for the page."""

import statistics
from dataclasses import dataclass

from profkit.common.noise import NOISE_RULE
from profkit.analysis.result import NO_STEPS
from profkit.report.fmt import ms as fmt_ms
from profkit.report.fmt import num as fmt_num
from profkit.report.fmt import pct as fmt_pct
from profkit.runfiles.sidecar import Noise


def _new_tokens(run):
    v = run.sidecar.new_tokens if run.sidecar else None
    return v if v is not None and v > 0 else None


@dataclass
class RunNumbers:
    """One run's headline numbers (None where the trace or sidecar has no answer).

    Per-step figures are medians over the profiler steps of the work each step
    launched (Summary.steps); `step_us` is the wall time per step (Analysis.step_timing).
    """

    n_steps: int
    step_us: float | None
    step_basis: str
    period_us: float | None
    kernel_us_per_step: float | None
    kernels_per_step: float | None
    outside_ops: int | None
    outside_us: float | None
    unlaunched_ops: int | None  # GPU work whose launch call is not in the trace (inside outside_ops)
    unlaunched_us: float | None
    unlaunched_pct: float | None  # of all the GPU time in the steps and outside them
    ttft_ms: float | None
    decode_ms: float | None
    tokens_per_s: float | None
    total_ms: float | None
    busy_pct: float
    idle_pct: float
    gap_count: int
    gap_total_us: float
    gap_max_us: float
    kernels: int
    launches: int | None
    launches_per_step: float | None
    launches_per_token: float | None
    graph_launches: int | None
    prefill_us: float | None
    decode_us: float | None
    is_cpu: bool  # the numbers describe CPU ops: a CPU-only trace, or a GPU run without kernel events
    spread: dict | None = None          # the range a comparison must beat (_spread)
    ttft_range: tuple | None = None     # min, max over the capture's timed runs
    decode_range: tuple | None = None
    noise: Noise | None = None          # the sidecar's timing.noise
    threads: int | None = None          # the capture's torch threads (sidecar device.threads)


def _median(values):
    return float(statistics.median(values)) if values else None


def compute(run):
    """The RunNumbers of one run."""
    s = run.summary
    timing = run.sidecar.timing if run.sidecar else None  # the capture's timed runs: None for a foreign trace
    n_steps, step_us, step_basis = run.analysis.step_timing()
    # CPU-only traces, and GPU runs whose kernel events are missing: CPU ops are all there is.
    is_cpu = s.device.kind == "cpu" or s.device.kernels_recorded is False
    steps = s.steps if s.steps.source != NO_STEPS and run.trace.has_gpu else None
    # A CPU-only trace launches nothing: "0 launches" would read as a result.
    launches = None if is_cpu else s.launches.count
    if run.trace.has_gpu:
        kernels = int((run.trace.gpu["kind"] == "kernel").sum())
    else:
        kernels = sum(c.count for c in s.classes.values())
    tokens = _new_tokens(run)
    return RunNumbers(
        n_steps=n_steps,
        step_us=step_us,
        step_basis=step_basis,
        period_us=steps.period_us.median if steps else None,
        kernel_us_per_step=_median([r.kernel_time_us for r in steps.per_step]) if steps else None,
        kernels_per_step=_median([r.kernels for r in steps.per_step]) if steps else None,
        outside_ops=steps.outside.gpu_ops if steps else None,
        outside_us=steps.outside.time_us if steps else None,
        **_unlaunched(steps),
        ttft_ms=timing.ttft_ms if timing else None,
        decode_ms=timing.decode_ms_per_token if timing else None,
        tokens_per_s=timing.tokens_per_s if timing else None,
        total_ms=timing.total_ms if timing else None,
        busy_pct=s.temporal.busy_pct,
        idle_pct=s.temporal.idle_pct,
        gap_count=s.gaps.count,
        gap_total_us=s.gaps.total_us,
        gap_max_us=s.gaps.max_us,
        kernels=kernels,
        launches=launches,
        launches_per_step=s.launches.kernel.per_step_median if steps and not is_cpu else None,
        launches_per_token=launches / tokens if launches is not None and tokens else None,
        graph_launches=None if is_cpu else s.cuda_graphs.launches,
        prefill_us=_phase_wall(s.phases["prefill"]) if s.phases else None,
        decode_us=_phase_wall(s.phases["decode"]) if s.phases else None,
        is_cpu=is_cpu,
        spread=_spread(run, timing),
        threads=run.sidecar.device.threads if run.sidecar and run.sidecar.device else None,
        **_ranges(run, timing),
    )


def _unlaunched(steps):
    """The GPU work the per-step figures cannot attribute because its launch is not in the trace."""
    if steps is None or not steps.outside.no_launch:
        return {"unlaunched_ops": None, "unlaunched_us": None, "unlaunched_pct": None}
    total = steps.outside.time_us + sum(r.gpu_time_us for r in steps.per_step)
    return {"unlaunched_ops": steps.outside.no_launch, "unlaunched_us": steps.outside.no_launch_time_us,
            "unlaunched_pct": 100 * steps.outside.no_launch_time_us / total if total else None}


def _spread(run, timing):
    """The range a comparison must beat: the capture's timed runs (total ms), else the
    ProfilerStep durations (ms); None with neither."""
    noise = timing.noise if timing else None
    if noise and noise.min_ms is not None and noise.max_ms is not None:
        return {"min_ms": noise.min_ms, "max_ms": noise.max_ms, "what": "timed-run"}
    steps = run.trace.steps
    if len(steps) >= 2:
        return {"min_ms": float(steps["dur"].min()) / 1e3, "max_ms": float(steps["dur"].max()) / 1e3,
                "what": "profiler-step"}
    return None


def _ranges(run, timing):
    """min–max of TTFT and decode ms/token over the timed runs, and the noise verdict (profkit captures)."""
    samples = timing.samples_ms if timing else []
    tokens = _new_tokens(run)
    out = {"ttft_range": None, "decode_range": None, "noise": timing.noise if timing else None}
    if samples:
        out["ttft_range"] = (min(x[0] for x in samples), max(x[0] for x in samples))
        if tokens:
            out["decode_range"] = (min(x[1] for x in samples) / tokens, max(x[1] for x in samples) / tokens)
    return out


def _with_range(median, rng):
    if median is None:
        return "—"
    text = fmt_num(median, 2) + " ms"
    return text + f" ({fmt_num(rng[0], 2)}–{fmt_num(rng[1], 2)})" if rng else text


def _noise(n):
    """'quiet, CV 1.2%' or 'noisy, CV 8.0%' for the headline table (n: a sidecar Noise, or None);
    why a run was noisy goes under the table (headline_notes), not into the cell."""
    if n is None or n.verdict is None:
        return "—"
    cv = "CV –" if n.cv_pct is None else f"CV {n.cv_pct:.1f}%"
    return f"{n.verdict}, {cv}"


def headline_notes(runs, numbers):
    """The notes under the headline table: why each noisy run was judged noisy."""
    return [f"{r.label} timed on a noisy machine: {'; '.join(n.noise.reasons)}"
            for r, n in zip(runs, numbers) if n.noise and n.noise.verdict == "noisy" and n.noise.reasons]


def class_total_notes(runs, numbers, per_step):
    """Why a run's time per class adds up to more than its wall time, where it does: ops on
    several threads (kernels on several streams) run at once and their times add up, and
    per-step figures are medians, which need not add up to the median step."""
    out = []
    for r, n in zip(runs, numbers):
        note = classes_above_wall(r.summary, n.step_us if per_step else r.summary.window_us.span, per_step)
        if note:
            out.append(f"{r.label}: {note}")
    return out


def classes_above_wall(s, wall, per_step=False):
    """Why a Summary's time per class adds up to more than `wall` (µs; per step when `per_step`),
    or None when it does not."""
    total = sum((c.per_step_us if per_step else c.time_us) or 0.0 for c in s.classes.values())
    per = " per step" if per_step else ""
    if not wall or total <= wall:
        return None
    why = []
    if s.cpu is not None and s.cpu.threads > 1:
        why.append(f"ops on {s.cpu.threads} threads run at the same time and each counts its own time")
    elif s.cpu is None and len(s.streams) > 1:
        why.append(f"kernels on {len(s.streams)} streams run at the same time and each counts its own time")
    if per_step:
        why.append("each class is its median over the steps, and medians need not add up to a step")
    return (f"the classes add up to {fmt_ms(total)}{per}, more than the wall time{per} ({fmt_ms(wall)}): "
            + "; ".join(why or ["the ops overlap in time"]))


def _phase_wall(phase):
    """Mean profiled wall time of one occurrence of a phase region."""
    if not phase.count:
        return None
    return phase.wall_us / phase.count


SPEEDUP_BASES = (  # (RunNumbers field, its unit in ms, how it is measured), in order of preference
    ("period_us", 1e-3, "the median GPU step period (first GPU activity of step N to that of step N+1)"),
    ("total_ms", 1.0, "the unprofiled wall time per generation from the capture sidecars"),
    ("step_us", 1e-3, "the wall time per profiler step in the traces"),
)


@dataclass(frozen=True)
class Speedup:
    """The one speed-up figure per run a page shows: over the first eager run, from one measure."""

    base: int          # index of the run it is over
    key: str           # the RunNumbers field it divides
    to_ms: float       # that field's unit in ms
    basis: str         # how that field is measured
    values: list       # speed-up per run (base: 1.0)


def speedups(runs, numbers):
    """Speed-up of each run over the first eager run: from the median GPU step period when
    every run has one, else (profkit captures) the unprofiled wall time per generation, else
    the wall time per step. None without an eager run and another one to compare."""
    eager = [i for i, r in enumerate(runs) if r.mode == "eager"]
    if not eager or len(runs) < 2:
        return None
    base = eager[0]
    for key, to_ms, basis in SPEEDUP_BASES:
        values = [getattr(n, key) for n in numbers]
        if all(values):
            return Speedup(base, key, to_ms, f"over {runs[base].label}, from {basis}",
                           [values[base] / v for v in values])
    return None


def headline_rows(runs, numbers, compare=True):
    """Rows of (metric, [cell per run], note) for the side-by-side table; `compare`
    adds the speed-up over eager (not for ranks of one job, which run the same code)."""
    up = speedups(runs, numbers) if compare else None
    any_cpu = any(n.is_cpu for n in numbers)
    busy_name = "Busy % (GPU; CPU op coverage on CPU traces)" if any_cpu else "GPU busy %"
    per = "median over the profiler steps of the work each step launched"
    rows = [
        ("Mode", [r.mode for r in runs], "from the sidecar, else detected from the trace"),
        ("GPU step period", [fmt_ms(n.period_us) for n in numbers],
         "median over steps of first GPU activity of step N to that of step N+1"),
        ("Kernel time per step", [fmt_ms(n.kernel_us_per_step) for n in numbers], per),
        ("Wall time per step", [fmt_ms(n.step_us) for n in numbers], numbers[0].step_basis),
        ("GPU work outside steps", [f"{n.outside_ops} ops / {fmt_ms(n.outside_us)}" if n.outside_ops is not None
                                    else "—" for n in numbers],
         "launched outside every profiler step (warm-up, graph capture), or with no launch in the trace: "
         "not in the per-step figures"),
        ("GPU work without a recorded launch", [f"{n.unlaunched_ops} ops / {fmt_ms(n.unlaunched_us)} "
                                                f"({fmt_pct(n.unlaunched_pct)} of GPU time)"
                                                if n.unlaunched_ops else "—" for n in numbers],
         "activities whose launch call is not in the trace (the CPU side was not recorded): no step can be "
         "given them, so the per-step figures miss this share"),
        ("TTFT", [_with_range(n.ttft_ms, n.ttft_range) for n in numbers],
         "time to first token, measured outside the profiler (profkit captures): median (min–max of the runs)"),
        ("Decode latency per token", [_with_range(n.decode_ms, n.decode_range) for n in numbers],
         "profkit captures: median (min–max)"),
        ("Timing noise", [_noise(n.noise) for n in numbers], NOISE_RULE + " (why a run is noisy: under the table)"),
        ("Tokens/s", [fmt_num(n.tokens_per_s, 1) for n in numbers], "profkit captures"),
        ("Prefill region (profiled)", [fmt_ms(n.prefill_us) for n in numbers],
         "wall time of one \"prefill\" region in the trace (profiler overhead included)"),
        ("Decode region (profiled)", [fmt_ms(n.decode_us) for n in numbers],
         "wall time of one \"decode\" region in the trace"),
        (busy_name, [fmt_pct(n.busy_pct) for n in numbers], "union of all activity over the analysis window"),
        ("Idle %", [fmt_pct(n.idle_pct) for n in numbers], ""),
        ("Idle gaps (count / total)", [f"{fmt_num(n.gap_count)} / {fmt_ms(n.gap_total_us)}" for n in numbers], ""),
        ("Largest gap", [fmt_ms(n.gap_max_us) for n in numbers], ""),
        ("Kernels" if not any_cpu else "Kernels (classified ops on CPU traces)",
         [fmt_num(n.kernels) for n in numbers],
         "kernel executions, without copies and memsets" + ("; CPU: ops doing data work" if any_cpu else "")),
        ("Kernels per step", [fmt_num(n.kernels_per_step, 1) for n in numbers], per),
        ("Kernel launches", [fmt_num(n.launches) for n in numbers],
         "kernel launch calls on the CPU (graph launches and copies apart)"),
        ("Launches per step", [fmt_num(n.launches_per_step, 1) for n in numbers], "kernel launch calls, " + per),
        ("Launches per token", [fmt_num(n.launches_per_token, 1) for n in numbers],
         "kernel launches / new tokens (profkit captures)"),
        ("CUDA-graph launches", [fmt_num(n.graph_launches) for n in numbers], ""),
    ]
    if up:
        rows.append(("Speed-up over eager", [f"{u:.2f}×" for u in up.values], up.basis))
    # A row with nothing in any column only adds noise.
    return [row for row in rows if any(c not in ("—", "— / —") for c in row[1])]
