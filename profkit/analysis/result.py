"""The typed result of an analysis: what `summarize` returns and `analyze --json` prints.

Every block is a msgspec Struct: attribute access for the terminal, the HTML report,
the diff, sweeps and multi-rank jobs; `encode` writes the JSON and `json_schema`
the JSON Schema (draft 2020-12) from the same types, so the committed
docs/schema.json cannot drift from the code (`python -m profkit.analysis.result`
regenerates it). docs/schema.md says why Structs and lists the v1 -> v2 changes.

Conventions: times in microseconds (`_us`), shares in percent (`_pct`, 0-100),
counts are ints, averages are named as such (`_mean`), None (JSON null) means
"not known", never zero. The blocks the analysis modules produce (gaps, coverage,
communication, launches, steps, what-if) are defined here too, so reading a result
back (profkit.analysis.memo) needs neither pandas nor the analysis.
"""

import sys
from dataclasses import dataclass, field
from typing import Any

import msgspec

from profkit.analysis.block import Block

__all__ = ["SCHEMA_VERSION", "Block", "Device", "Mode", "Window", "Temporal", "CauseTotal", "GapBin", "Gap", "Gaps",
           "TimelineBin", "StreamIdle", "ClassTime", "Kernel", "Coverage", "LayerShare", "Unclassified",
           "Communication", "Collective", "CommBin", "DeviceCommunication", "SizeCount", "CudaGraphs", "Launches", "Steps",
           "CpuBreakdown", "Phase", "CountTime", "EfficiencyClass", "EfficiencyTotal", "PeakDevice",
           "ReferenceClass", "Reference", "OpAbovePeak", "Efficiency", "RooflineParams", "RooflinePhase", "RooflineDevice",
           "Roofline", "WhatIf", "Item", "Evidence", "Finding", "Summary", "Alignment", "Straggler", "Stragglers",
           "Job", "LaunchKind", "Outside", "Period", "StepRow", "Blocker", "StepPrediction", "Validation",
           "CudaGraphWhatIf", "CompiledWhatIf", "BLOCKER_LABELS", "encode", "decode", "to_builtins", "json_schema",
           "schema_text"]

SCHEMA_VERSION = 2
SCHEMA_ID = "https://profkit.dev/schema/analyze-v2.json"


# -- gaps and streams (profkit.analysis.temporal) -------------------------------------


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


# -- classification coverage (profkit.analysis.classify) ------------------------------


class LayerShare(Block):
    """GPU activities one layer classified: how many, their time and its share (%)."""

    count: int
    time_us: float
    pct: float


class Unclassified(Block):
    """A kernel name no layer classified (class "other")."""

    name: str
    count: int
    time_us: float
    pct: float


class Coverage(Block):
    """How the GPU activities were classified: time and count per layer (keys: LAYERS),
    and the kernel names no layer could classify (largest time first)."""

    classified_by: dict[str, LayerShare]
    unclassified: list[Unclassified]


# -- communication (profkit.analysis.communication) -----------------------------------


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


# -- launch calls (profkit.analysis.launches) -----------------------------------------


@dataclass
class LaunchKind:
    """Calls of one kind: how many, their CPU time, and per step (see profkit.analysis.steps).

    per_step_median: median over steps of the calls made in each step (the whole
    trace when it has no steps); outside_steps: calls made outside every step.
    """

    count: int
    cpu_us: float
    per_step_median: float | None
    outside_steps: int


@dataclass
class Launches:
    """Launch calls by kind. `count` / `cpu_us` are the kernel launches alone (one call per kernel)."""

    count: int
    cpu_us: float
    kernel: LaunchKind
    graph: LaunchKind
    memcpy: LaunchKind
    memset: LaunchKind
    sync: LaunchKind


# -- steps (profkit.analysis.steps) ---------------------------------------------------


@dataclass
class Outside:
    """GPU work launched outside every step (`no_launch`: of which no launch call is in the trace)."""

    gpu_ops: int = 0
    time_us: float = 0.0
    kernels: int = 0
    kernel_time_us: float = 0.0
    no_launch: int = 0


@dataclass
class Period:
    """GPU step period (start of step N to start of step N+1), over the steps that have one."""

    median: float | None = None
    min: float | None = None
    max: float | None = None
    count: int = 0


@dataclass
class StepRow:
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


@dataclass
class Steps:
    """How the trace divides into steps, and the GPU work each step launched."""

    count: int
    source: str
    outside: Outside
    period_us: Period
    per_step: list[StepRow] = field(default_factory=list)
    warning: str | None = None


# -- what-if predictions (profkit.analysis.whatif) ------------------------------------


# What each blocker kind means, in words (terminal, report, findings).
BLOCKER_LABELS = {"item": ".item() / bool(tensor)", "to_copy": ".to() / .cpu() copy",
                  "data_dependent_shape": "data-dependent shape", "host_sync": "host sync",
                  "host_copy": "host memory copy"}


@dataclass(frozen=True)
class Blocker:
    """Something inside the steps that stops whole-step graph capture."""
    kind: str  # "item", "to_copy", "data_dependent_shape", "host_sync", "host_copy"
    what: str  # the runtime call or memcpy that shows it
    ops: tuple[tuple[str, int], ...]  # (op name, count), most frequent first: the CPU ops that caused it
    count: int
    steps: int  # in how many steps it occurs


@dataclass(frozen=True)
class StepPrediction:
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


@dataclass(frozen=True)
class Validation:
    """The prediction against a measured CUDA-graph run of the same workload."""
    trace: str
    measured_us: float
    error_pct: float  # (predicted - measured) / measured
    within_tolerance: bool


@dataclass(frozen=True)
class CudaGraphWhatIf:
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
    steps: tuple[StepPrediction, ...] = field(repr=False)
    validation: Validation | None = None

    @property
    def validated(self):
        return self.validation is not None


@dataclass(frozen=True)
class CompiledWhatIf:
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


@dataclass(frozen=True)
class WhatIf:
    cudagraph: CudaGraphWhatIf | None
    compiled: CompiledWhatIf | None


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


# -- work -----------------------------------------------------------------------------------


class ClassTime(Block):
    """One operator class: time and share of the window's kernel (or CPU-op self) time;
    per step: the median over steps of the class's time (count) in the work each step
    launched (see `steps`; the whole trace when it has no steps)."""

    time_us: float
    pct: float
    count: int
    per_step_us: float | None
    per_step_count_median: float | None


class Kernel(Block):
    """One kernel name (CPU traces: op name) with its total time in the window, and its
    medians over steps as for ClassTime."""

    name: str
    cls: str = msgspec.field(name="class")
    count: int
    time_us: float
    pct: float
    per_step_us: float | None
    per_step_count_median: float | None
    classified_by: str | None  # rule / token / op / none (classify.LAYERS); null on CPU traces


class SizeCount(Block):
    size: int
    launches: int


class CudaGraphs(Block):
    """Graph launches and the GPU work they replayed (whole trace)."""

    launches: int
    launches_with_work: int
    gpu_ops: int
    kernels: int
    kernels_pct: float
    kernels_per_launch_mean: float
    kernels_per_launch_sizes: list[SizeCount]
    gpu_ops_per_launch_mean: float
    gpu_ops_per_launch_sizes: list[SizeCount]
    gpu_time_us: float
    launch_cpu_us: float
    single_launch_median_us: float | None
    single_launches: int
    est_saved_cpu_us: float | None
    graph_ids: list[int]
    distinct_graphs: int
    distinct_graphs_basis: str


class CpuBreakdown(Block):
    """CPU-only traces: where host time went, by self time, summed over threads."""

    window_us: float
    threads: int
    classified_us: float
    compiled_region_self_us: float
    framework_overhead_us: float
    framework_overhead_pct: float


class Phase(Block):
    """One phase of a profkit capture ("prefill" / "decode" annotations)."""

    count: int
    wall_us: float
    work_us: float
    ops: int
    classes: dict[str, float]


# -- efficiency -------------------------------------------------------------------------------


class CountTime(Block):
    count: int
    time_us: float


class EfficiencyClass(Block):
    """FLOPs, bytes and rates of one class over the op calls profkit could cost (`counted`);
    the rest is accounted under no_shapes / unmodeled / host_copy / no_op. `above_peak`:
    counted calls above 100% of the DRAM peak. `reason` says why a rate is missing
    ("FLOPs unknown: ...") or why an MUE above 100% is possible (cache, with the L2 size)."""

    time_us: float
    pct_time: float | None
    ops: int
    counted: CountTime
    flops: float | None
    bytes: float | None
    pct_flops: float | None
    tflops: float | None
    gbps: float | None
    mue_pct: float | None
    compute_pct: float | None
    no_shapes: CountTime
    unmodeled: CountTime
    host_copy: CountTime
    no_op: CountTime
    above_peak: CountTime
    reason: str | None


class EfficiencyTotal(Block):
    """Totals over all op calls; the status fields count op calls."""

    time_us: float
    flops: float
    bytes: float
    ops: int
    counted: int
    no_shapes: int
    unmodeled: int
    host_copy: int
    no_op: int


class PeakDevice(Block):
    """The peaks used: GB/s and TFLOP/s per precision, with their source; the L2 size (MiB)."""

    name: str
    bandwidth_gbs: float | None
    tflops: dict[str, float | None]
    source: str
    note: str
    l2_mb: float | None
    l2_source: str


class OpAbovePeak(Block):
    """An op (name and class) whose MUE over all its calls is above 100% of the DRAM peak."""

    name: str
    cls: str = msgspec.field(name="class")
    calls: int
    time_us: float
    bytes_per_call: float
    mue_pct: float
    reason: str


class ReferenceClass(Block):
    pct_flops: float
    pct_time: float


class Reference(Block):
    source: str
    classes: dict[str, ReferenceClass]


class Efficiency(Block):
    """FLOPs / bytes / TFLOP/s / GB/s / MUE per class. `unavailable`: why there are no peaks."""

    classes: dict[str, EfficiencyClass]
    ops_above_peak: list[OpAbovePeak]
    total: EfficiencyTotal
    device: PeakDevice | None
    unavailable: str | None
    reference: Reference


# -- roofline ---------------------------------------------------------------------------------


class RooflineParams(Block):
    total: int
    embedding: int
    non_embedding: int
    per_layer: int
    reported: int | None
    lm_head: int | None = None  # an untied output matrix (0 when tied to the token embedding)


class RooflinePhase(Block):
    """A phase's analytical FLOPs and bytes, its lower-bound latency and the measured one."""

    flops: float
    bytes: float
    limit_ms: float | None
    bound: str | None
    measured_ms: float | None
    pct_of_limit: float | None
    warning: str | None = None
    mean_context: float | None = None
    compute_ms: float | None = None  # FLOPs / peak FLOP/s
    memory_ms: float | None = None   # bytes / peak bandwidth


class RooflineDevice(Block):
    name: str
    bandwidth_gbs: float | None
    peak_tflops: float | None
    source: str
    note: str


class Roofline(Block):
    """Analytical limit of a profkit capture (from its sidecar and the device peaks), or of `profkit roofline`."""

    model: str | None
    dtype: str
    batch: int
    prompt_len: int
    new_tokens: int
    params: RooflineParams
    weight_bytes: int
    kv_cache_bytes: int
    prefill: RooflinePhase
    decode_step: RooflinePhase
    device: RooflineDevice | None
    unavailable: str | None
    family: str | None = None     # gpt2, llama, qwen2, mistral (profkit.analysis.models)
    n_kv_head: int | None = None  # K/V heads (fewer than query heads: grouped-query attention)
    kv_groups: int | None = None  # query heads per K/V head


# -- findings ---------------------------------------------------------------------------------


class Item(Block):
    """One thing of the trace a finding rests on: an op, a gap, a kernel or a class.
    start_us: trace time (find it in Perfetto); detail: e.g. the kernels around a gap."""

    kind: str
    name: str
    time_us: float
    count: int | None = None
    start_us: float | None = None
    detail: str = ""


class Evidence(Block):
    """The numbers a rule compared (units in the names) and the items they rest on."""

    numbers: dict[str, float | int | str | None]
    items: list[Item] = []


class Finding(Block):
    """What to try next, from one rule of profkit.analysis.findings.RULES (docs/findings.md).

    rule: the rule's stable id; severity: warn / info / good; text: what the trace
    shows; action: what to try; evidence: numbers and the ops/gaps/kernels behind
    them; applies_when: the preconditions, noise check and thresholds checked."""

    rule: str
    severity: str
    text: str
    action: str
    evidence: Evidence
    applies_when: list[str]


# -- the result -------------------------------------------------------------------------------


class Summary(Block, kw_only=True):
    """Everything `profkit analyze` reports about one trace (keyword-only fields, so
    `whatif`, which has a default, can stand before the findings that cite it)."""

    schema_version: int
    trace: str
    rank: int | None
    world_size: int | None
    device: Device
    mode: Mode
    capture: dict[str, Any] | None
    window_us: Window
    temporal: Temporal
    gaps: Gaps
    timeline: list[TimelineBin]
    streams: list[StreamIdle]
    classes: dict[str, ClassTime]
    kernels: list[Kernel]
    coverage: Coverage | None  # GPU traces: which layer classified the time, unclassified kernels
    communication: Communication | None  # GPU traces: communication, exposure, collectives
    cuda_graphs: CudaGraphs
    launches: Launches
    steps: Steps
    cpu: CpuBreakdown | None
    phases: dict[str, Phase] | None
    efficiency: Efficiency
    roofline: Roofline | None
    # What CUDA graphs (GPU traces) or compilation (CPU traces) would buy (profkit.analysis.whatif,
    # docs/whatif.md); None (left out of the JSON) for a result built without a prediction.
    whatif: WhatIf | None = None
    findings: list[Finding]
    warnings: list[str]


class Alignment(Block):
    """Clock offsets that put the ranks on one time line (keys: rank)."""

    method: str
    offsets_us: dict[int, float]
    max_skew_us: float
    step: int | None
    aligned_step_start_us: dict[int, float]


class Straggler(Block):
    """A rank named by a straggler rule, with the value that tripped it."""

    rank: int
    rule: str
    why: str
    value_us: float | None = None
    value_pct: float | None = None


class Stragglers(Block):
    rules: dict[str, str]
    ranks: list[Straggler]


class Job(Block):
    """`profkit analyze DIR`: one Summary per rank, clock alignment, stragglers."""

    schema_version: int
    folder: str
    world_size: int
    ranks: list[Summary]
    alignment: Alignment
    stragglers: Stragglers


# -- JSON -------------------------------------------------------------------------------------


def _enc_hook(obj):
    np = sys.modules.get("numpy")  # no numpy scalar exists unless numpy was imported
    if np is not None and isinstance(obj, np.generic):  # one that slipped through: its Python value
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__} in an analysis result")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(result, indent=2):
    """JSON bytes of a Summary or Job (keys in field order, NaN/inf as null)."""
    raw = _encoder.encode(result)
    return msgspec.json.format(raw, indent=indent) if indent else raw


def decode(data, type=None):
    """A Summary (or `type`) back from `encode`'s JSON: the same values, as the views read them."""
    return msgspec.json.decode(data, type=type or Summary)


def to_builtins(result):
    """The result as plain dicts and lists, exactly as the JSON has it."""
    return msgspec.json.decode(_encoder.encode(result))


def json_schema():
    """JSON Schema (draft 2020-12) of `analyze --json`: a Summary, or a Job for a folder."""
    (summary, job), defs = msgspec.json.schema_components([Summary, Job], ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "profkit analyze --json",
        "description": f"schema_version {SCHEMA_VERSION}: one trace gives a Summary, a folder of ranks a Job.",
        "anyOf": [summary, job],
        "$defs": defs,
    }


def schema_text():
    """docs/schema.json's exact content."""
    return msgspec.json.format(msgspec.json.encode(json_schema()), indent=2).decode() + "\n"


if __name__ == "__main__":  # python -m profkit.analysis.result [PATH]: write the schema
    from pathlib import Path

    from profkit.fileio import write_text_atomic

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs" / "schema.json"
    write_text_atomic(target, schema_text())
    print(target)
