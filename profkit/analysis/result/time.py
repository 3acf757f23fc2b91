"""Result blocks of time: the window, busy/idle, gaps and streams, communication, launches, steps,
the what-if predictions, and what the trace ran on."""

import msgspec

from profkit.analysis.result.block import Block, Record


# -- gaps and streams (profkit.analysis.time.temporal) -------------------------------------


class CauseTotal(Block):
    count: int
    total_us: float


class GapBin(Block):
    """Gaps whose length falls in [lo_us, hi_us); hi_us null: no upper edge."""

    lo_us: float
    hi_us: float | None
    count: int
    total_us: float


class Gap(Block):
    """One idle gap: its cause and the activities before and after it."""

    device: int
    start_us: float
    dur_us: float
    cause: str
    before: str
    after: str


class Gaps(Block):
    """Idle gaps of the window; `all` only with --all-gaps."""

    count: int
    total_us: float
    p50_us: float
    p99_us: float
    max_us: float
    by_cause: dict[str, CauseTotal]
    histogram: list[GapBin]
    largest: list[Gap]
    all: list[Gap] | None = None


class TimelineBin(Block):
    start_us: float
    end_us: float
    busy_pct: float


class StreamIdle(Block):
    """HTA's per-stream idle categories (get_idle_time_breakdown definitions)."""

    device: int
    stream: int
    busy_us: float
    idle_us: float
    host_wait_us: float
    kernel_wait_us: float
    other_us: float


# -- communication (profkit.analysis.time.communication) -----------------------------------


class Collective(Block):
    """Calls of one collective (as PyTorch named it) with one dtype and group size."""

    name: str
    dtype: str | None
    group_size: int | None
    count: int
    bytes: float | None  # summed over calls; None when the dtype or sizes are unknown
    time_us: float  # summed kernel time
    algbw_gbs: float | None
    busbw_gbs: float | None
    kind: str | None  # all_reduce, all_gather, ... (None: no nccl-tests factor)


class DeviceCommunication(Block):
    device: int
    time_us: float
    exposed_us: float
    overlap_pct: float | None


class CommBin(Block):
    start_us: float
    end_us: float
    compute_pct: float
    communication_pct: float
    exposed_pct: float


class Communication(Block):
    """Communication time, exposed time and overlap over the devices, collectives
    with their bandwidths, and why some kernels have no collective entry."""

    time_us: float
    exposed_us: float
    overlap_pct: float | None
    collectives: list[Collective]  # largest time first
    reason: str | None  # why some or all communication has no collective entry
    devices: list[DeviceCommunication]
    timeline: list[CommBin]  # of the first communicating device


# -- launch calls (profkit.analysis.time.launches) -----------------------------------------


class LaunchKind(Record):
    """Calls of one kind: how many, their CPU time, and per step (see profkit.analysis.time.steps).

    per_step_median: median over steps of the calls made in each step (the whole
    trace when it has no steps); outside_steps: calls made outside every step.
    """

    count: int
    cpu_us: float
    per_step_median: float | None
    outside_steps: int


class Launches(Record):
    """Launch calls by kind. `count` / `cpu_us` are the kernel launches alone (one call per kernel)."""

    count: int
    cpu_us: float
    kernel: LaunchKind
    graph: LaunchKind
    memcpy: LaunchKind
    memset: LaunchKind
    sync: LaunchKind


# -- steps (profkit.analysis.time.steps) ---------------------------------------------------


class Outside(Record):
    """GPU work launched outside every step (`no_launch`: of which no launch call is in the trace)."""

    gpu_ops: int = 0
    time_us: float = 0.0
    kernels: int = 0
    kernel_time_us: float = 0.0
    no_launch: int = 0
    no_launch_time_us: float = 0.0  # their GPU time: what no per-step figure can hold


class Period(Record):
    """GPU step period (start of step N to start of step N+1), over the steps that have one."""

    median: float | None = None
    min: float | None = None
    max: float | None = None
    count: int = 0


class StepRow(Record):
    """One step. `step` is the N of ProfilerStep#N (None for the whole-trace pseudo-step);
    `range_start_us` / `range_dur_us` are the ProfilerStep range itself (CPU-side, or
    GPU-side for source "gpu_annotation"; None for the pseudo-step)."""

    step: int | None
    gpu_ops: int
    kernels: int
    kernel_time_us: float
    gpu_time_us: float
    gpu_start_us: float | None
    gpu_end_us: float | None
    period_us: float | None
    busy_us: float
    idle_us: float
    range_start_us: float | None
    range_dur_us: float | None


# Where a trace's steps come from (Steps.source).
CPU_STEP = "cpu_profiler_step"
GPU_ANNOTATION = "gpu_annotation"
NO_STEPS = "none"


class Steps(Record):
    """How the trace divides into steps, and the GPU work each step launched."""

    count: int
    source: str
    outside: Outside
    period_us: Period
    per_step: list[StepRow] = msgspec.field(default_factory=list)
    warning: str | None = None


# -- what-if predictions (profkit.analysis.time.whatif) ------------------------------------


# What each blocker kind means, in words (terminal, report, findings).
BLOCKER_LABELS = {"item": ".item() / bool(tensor)", "to_copy": ".to() / .cpu() copy",
                  "data_dependent_shape": "data-dependent shape", "host_sync": "host sync",
                  "host_copy": "host memory copy"}


class Blocker(Record, frozen=True):
    """Something inside the steps that stops whole-step graph capture."""
    kind: str  # "item", "to_copy", "data_dependent_shape", "host_sync", "host_copy"
    what: str  # the runtime call or memcpy that shows it
    ops: tuple[tuple[str, int], ...]  # (op name, count), most frequent first: the CPU ops that caused it
    count: int
    steps: int  # in how many steps it occurs


class StepPrediction(Record, frozen=True):
    step: int
    measured_us: float  # this step's first GPU activity to the next step's (last step: to its last end)
    work_us: float
    removed_gaps: int
    removed_gap_us: float
    kept_gap_us: float
    sync_gap_us: float
    launches: int  # launch calls a graph replaces (one per GPU activity launched in the step)
    launch_cpu_us: float  # host time those launch calls took
    segments: int  # graph launches needed: 1 + host syncs inside the step
    predicted_us: float
    best_us: float
    worst_us: float
    full_period: bool  # measured to the next step's start (False: the last step, measured to its end)


class Validation(Record, frozen=True):
    """The prediction against a measured CUDA-graph run of the same workload."""
    trace: str
    measured_us: float
    error_pct: float  # (predicted - measured) / measured
    within_tolerance: bool


class CudaGraphWhatIf(Record, frozen=True):
    """Step periods and their terms are medians over the steps with a full period
    (each term on its own, so the terms need not add up to the median period)."""
    measured_step_us: float
    step_us: float  # predicted step period under CUDA graphs
    speedup: float
    low: float
    high: float
    best_step_us: float
    worst_step_us: float
    work_us: float
    removed_gap_us: float
    kept_gap_us: float
    graph_launch_us: float  # d: GPU-side cost of one graph launch
    launch_gpu_us: float  # segments x d per step (median)
    launches_replaced: int  # per step (median)
    launch_cpu_us: float  # per step (median)
    basis: str  # "steps" (ProfilerStep periods) or "window" (no steps: the whole GPU range)
    already_graphed_pct: float  # share of the steps' GPU activities already replayed from graphs
    blockers: tuple[Blocker, ...]
    assumptions: tuple[str, ...]
    steps: tuple[StepPrediction, ...]
    validation: Validation | None = None

    @property
    def validated(self):
        return self.validation is not None


class CompiledWhatIf(Record, frozen=True):
    """CPU traces: framework overhead (cpu_breakdown: the window minus the ops' own work)
    is the part compilation removes; `speedup` is from removing it alone (fusion also
    changes the ops' own time, so a compiled run can beat it)."""
    window_us: float
    overhead_us: float
    overhead_pct: float
    step_us: float  # the window with the overhead removed
    speedup: float  # window / (window - overhead)
    compiled_window_us: float | None = None  # a compiled run's window, when given
    measured_speedup: float | None = None


class WhatIf(Record, frozen=True):
    cudagraph: CudaGraphWhatIf | None
    compiled: CompiledWhatIf | None
    unavailable: str | None = None  # why neither is predicted (None when one is)


# -- run ----------------------------------------------------------------------------------


class Device(Block):
    """What the trace ran on: kind cuda / rocm / cpu, the device name, GPUs seen.
    kernels_recorded: False for a GPU run whose kernel events are missing (nothing may be
    said about GPU busy time, TFLOP/s or top kernels), None for a CPU-only run."""

    kind: str
    name: str | None
    count: int
    kernels_recorded: bool | None


class Mode(Block):
    """Execution mode detected from the trace (eager, compiled, cudagraph,
    compiled+cudagraph, unknown) and the evidence, with its counts."""

    name: str
    evidence: list[str]


class Window(Block):
    """The analysis window: every time share is of this span. kind: gpu, steps, hta, cpu."""

    start: float
    end: float
    span: float
    kind: str


# -- time ---------------------------------------------------------------------------------


class Temporal(Block):
    """Busy/idle over the window (the union of activity per device, summed over devices)."""

    busy_us: float
    idle_us: float
    busy_pct: float
    idle_pct: float
    compute_us: float
    non_compute_us: float
