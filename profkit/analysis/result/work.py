"""Result blocks of work: classes and kernels, classification coverage, CUDA graphs, CPU time,
phases, efficiency (FLOPs, bytes, MUE) and the roofline."""

import msgspec

from profkit.analysis.result.block import Block

# The operator classes (the keys of Summary.classes), in the order every view lists them: the
# classes of Ivanov et al. plus attention, memory, communication and other (docs/methodology.md).
TC = "tensor_contraction"
NORM = "normalization"
EW = "elementwise"
ATTN = "attention"
MEM = "memory"
COMM = "communication"
OTHER = "other"
CLASSES = (TC, NORM, EW, ATTN, MEM, COMM, OTHER)

# -- classification coverage (profkit.analysis.classes.classify) ------------------------------


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


class OpTime(Block):
    """One CPU op name that launched GPU work (TraceLens's ops_summary): the op calls that launched
    activities themselves, the GPU time of what they launched (direct) and of what the ops inside
    them launched too (subtree)."""

    name: str
    calls: int
    direct_kernel_us: float
    subtree_kernel_us: float


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
    family: str | None = None     # gpt2, llama, qwen2, mistral (profkit.common.models)
    n_kv_head: int | None = None  # K/V heads (fewer than query heads: grouped-query attention)
    kv_groups: int | None = None  # query heads per K/V head
