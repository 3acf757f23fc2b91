"""The typed result of an analysis: what `summarize` returns and `analyze --json` prints.

Every block is a msgspec Struct: attribute access for the terminal, the HTML report,
the diff, sweeps and multi-rank jobs; `encode` writes the JSON and `json_schema`
the JSON Schema (draft 2020-12) from the same types, so the committed
docs/schema.json cannot drift from the code (`python -m profkit.analysis.result`
regenerates it). The blocks are grouped by concern in result.time, result.work and
result.advice; everything is imported from here. docs/schema.md says why Structs and lists the v1 -> v2 changes.

Conventions: times in microseconds (`_us`), shares in percent (`_pct`, 0-100),
counts are ints, averages are named as such (`_mean`), None (JSON null) means
"not known", never zero. The blocks the analysis modules produce (gaps, coverage,
communication, launches, steps, what-if) are defined here too, so reading a result
back (profkit.analysis.result_cache) needs neither pandas nor the analysis.
"""

import sys

import msgspec

from profkit.analysis.result.advice import Evidence, Finding, Item
from profkit.analysis.result.block import Block, Record
from profkit.analysis.result.time import (CauseTotal, GapBin, Gap, Gaps, TimelineBin, StreamIdle, Collective,
                                          DeviceCommunication, CommBin, Communication, LaunchKind, Launches,
                                          Outside, Period, StepRow, Steps, Blocker, StepPrediction,
                                          Validation, CudaGraphWhatIf, CompiledWhatIf, WhatIf, Device, Mode,
                                          Window, Temporal, CPU_STEP, GPU_ANNOTATION, NO_STEPS,
                                          BLOCKER_LABELS)
from profkit.runfiles.sidecar import Capture
from profkit.analysis.result.work import (CLASSES, LayerShare, Unclassified, Coverage, ClassTime, Kernel, OpTime, SizeCount,
                                          CudaGraphs, CpuBreakdown, Phase, CountTime, EfficiencyClass,
                                          EfficiencyTotal, PeakDevice, OpAbovePeak, ReferenceClass,
                                          Reference, Efficiency, RooflineParams, RooflinePhase,
                                          RooflineDevice, Roofline)

__all__ = ["SCHEMA_VERSION", "CLASSES", "Block", "Record", "CauseTotal", "GapBin", "Gap", "Gaps", "TimelineBin", "StreamIdle",
           "Collective", "DeviceCommunication", "CommBin", "Communication", "LaunchKind", "Launches",
           "Outside", "Period", "StepRow", "Steps", "Blocker", "StepPrediction", "Validation",
           "CudaGraphWhatIf", "CompiledWhatIf", "WhatIf", "Device", "Mode", "Window", "Temporal",
           "CPU_STEP", "GPU_ANNOTATION", "NO_STEPS", "BLOCKER_LABELS", "LayerShare", "Unclassified", "OpTime",
           "Coverage", "ClassTime", "Kernel", "SizeCount", "CudaGraphs", "CpuBreakdown", "Phase",
           "CountTime", "EfficiencyClass", "EfficiencyTotal", "PeakDevice", "OpAbovePeak", "ReferenceClass",
           "Reference", "Efficiency", "RooflineParams", "RooflinePhase", "RooflineDevice", "Roofline",
           "Item", "Evidence", "Finding", "Summary", "Alignment", "Straggler", "Stragglers", "Job",
           "encode", "decode", "to_builtins", "json_schema", "schema_text"]

SCHEMA_VERSION = 2
SCHEMA_ID = "https://profkit.dev/schema/analyze-v2.json"


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
    capture: Capture | None  # the capture's sidecar, as profkit capture wrote it
    window_us: Window
    temporal: Temporal
    gaps: Gaps
    timeline: list[TimelineBin]
    streams: list[StreamIdle]
    classes: dict[str, ClassTime]
    kernels: list[Kernel]
    ops: list[OpTime]  # GPU traces: the OPS_LISTED ops with the most direct GPU time; empty on CPU traces
    coverage: Coverage | None  # GPU traces: which layer classified the time, unclassified kernels
    communication: Communication | None  # GPU traces: communication, exposure, collectives
    cuda_graphs: CudaGraphs
    launches: Launches
    steps: Steps
    cpu: CpuBreakdown | None
    phases: dict[str, Phase] | None
    efficiency: Efficiency
    roofline: Roofline | None
    # What CUDA graphs (GPU traces) or compilation (CPU traces) would buy (profkit.analysis.time.whatif,
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
