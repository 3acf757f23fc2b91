"""The typed result of an analysis: what `summarize` returns and `analyze --json` prints.

Every block is a msgspec Struct: attribute access for the terminal, the HTML report,
the diff, sweeps and multi-rank jobs; `encode` writes the JSON and `json_schema`
the JSON Schema (draft 2020-12) from the same types, so the committed
docs/schema.json cannot drift from the code (`python -m profkit.analysis.result`
regenerates it). docs/schema.md says why Structs and lists the v1 -> v2 changes.

Conventions: times in microseconds (`_us`), shares in percent (`_pct`, 0-100),
counts are ints, averages are named as such (`_mean`), None (JSON null) means
"not known", never zero.
"""

import sys
from typing import Any

import msgspec
import numpy as np

from profkit.analysis.block import Block
from profkit.analysis.classify import Coverage, LayerShare, Unclassified
from profkit.analysis.communication import Collective, CommBin, Communication, DeviceCommunication
from profkit.analysis.launches import Launches
from profkit.analysis.steps import Steps
from profkit.analysis.temporal import CauseTotal, Gap, GapBin, Gaps, StreamIdle, TimelineBin
from profkit.analysis.whatif import WhatIf

__all__ = ["SCHEMA_VERSION", "Block", "Device", "Mode", "Window", "Temporal", "CauseTotal", "GapBin", "Gap", "Gaps",
           "TimelineBin", "StreamIdle", "ClassTime", "Kernel", "Coverage", "LayerShare", "Unclassified",
           "Communication", "Collective", "CommBin", "DeviceCommunication", "SizeCount", "CudaGraphs", "Launches", "Steps",
           "CpuBreakdown", "Phase", "CountTime", "EfficiencyClass", "EfficiencyTotal", "PeakDevice",
           "ReferenceClass", "Reference", "OpAbovePeak", "Efficiency", "RooflineParams", "RooflinePhase", "RooflineDevice",
           "Roofline", "WhatIf", "Item", "Evidence", "Finding", "Summary", "Alignment", "Straggler", "Stragglers",
           "Job", "encode", "to_builtins", "json_schema", "schema_text"]

SCHEMA_VERSION = 2
SCHEMA_ID = "https://profkit.dev/schema/analyze-v2.json"


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
    if isinstance(obj, np.generic):  # a numpy scalar that slipped through: its Python value
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__} in an analysis result")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(result, indent=2):
    """JSON bytes of a Summary or Job (keys in field order, NaN/inf as null)."""
    raw = _encoder.encode(result)
    return msgspec.json.format(raw, indent=indent) if indent else raw


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
