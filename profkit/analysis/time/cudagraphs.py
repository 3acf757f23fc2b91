"""CUDA-graph attribution and execution-mode detection (eager / compiled / cudagraph).

Kernels replayed from a CUDA graph appear one by one in the trace, each carrying
the correlation id of the cudaGraphLaunch that replayed it; newer Kineto also
writes a "graph id" arg (trace.gpu.graph_id). CUPTI documents graph id 0 as
"not launched by a graph", so only ids above 0 count.
"""

import re

import numpy as np

from profkit.analysis.time.launches import is_kind
from profkit.analysis.result import CudaGraphs, Mode, SizeCount
from profkit.trace.model import name_mask

__all__ = ["cuda_graph_summary", "detect_mode"]

# Driver-API launches: how Triton (and some libraries) launch their kernels.
_DRIVER_RE = re.compile(r"^cuLaunchKernel|^hip(?:Ext)?ModuleLaunchKernel")
_MARKERS = (  # (regex on CPU op / annotation names, what it shows)
    (re.compile(r"^Torch-Compiled Region"), "'Torch-Compiled Region' markers (torch.compile)"),
    (re.compile(r"CompiledFxGraph"), "'## Call CompiledFxGraph ##' annotations (Inductor graphs)"),
    (re.compile(r"^CompiledFunction"), "AOTAutograd CompiledFunction ops"),
    (re.compile(r"cpp_fused_"), "Inductor C++ CPU kernels (cpp_fused_*)"),
)


def _count_names(series, regex):
    return int(name_mask(series, regex).sum()) if len(series) else 0


def _sizes(counts):
    """[SizeCount(size=n, launches=k), ...] from a per-launch count Series."""
    vc = counts.value_counts().sort_index()
    return [SizeCount(size=int(s), launches=int(k)) for s, k in vc.items()]


def cuda_graph_summary(trace):
    """Graph launches and the GPU work they replayed.

    `est_saved_cpu_us` assumes each graph-replayed kernel would otherwise need
    its own launch call costing the trace's median per-kernel launch call
    (cudaLaunchKernel / cuLaunchKernel(Ex) / hipLaunchKernel ...), minus the CPU
    time the graph launches themselves took; memcpy/memset nodes are left out.
    None when the trace has no per-kernel launch calls to take the median from.
    """
    rt, gpu = trace.runtime, trace.gpu
    is_graph_launch = is_kind(rt["name"], "graph") if len(rt) else np.zeros(0, bool)
    launches = rt[is_graph_launch]
    corr = launches["correlation"][launches["correlation"] >= 0]
    in_graph = (gpu["correlation"].isin(corr) | (gpu["graph_id"] > 0)).to_numpy()
    replayed = gpu[in_graph]
    is_kernel = (replayed["kind"] == "kernel").to_numpy()
    per_launch = replayed.groupby("correlation")
    ops_per = per_launch.size()
    kernels_per = replayed[is_kernel].groupby("correlation").size().reindex(ops_per.index, fill_value=0)

    single = rt[is_kind(rt["name"], "kernel")] if len(rt) else rt
    median = float(single["dur"].median()) if len(single) else None
    n_kernels = int(is_kernel.sum())
    launch_cpu = float(launches["dur"].sum())
    all_kernels = int((gpu["kind"] == "kernel").sum())
    graph_ids = sorted(int(g) for g in replayed["graph_id"].unique() if g > 0)
    if graph_ids:
        distinct, basis = len(graph_ids), "graph id"
    else:  # no ids recorded: launches replaying the same kernel sequence are one graph
        # Each launch's kernel names (codes of the one categorical) in time order, from one sort.
        corr, ts = replayed["correlation"].to_numpy(), replayed["ts"].to_numpy()
        order = np.lexsort((ts, corr))
        corr, names = corr[order], replayed["name"].cat.codes.to_numpy()[order]
        cuts = [0, *(np.flatnonzero(corr[1:] != corr[:-1]) + 1).tolist(), len(corr)]
        seqs = {tuple(names[a:b].tolist()) for a, b in zip(cuts[:-1], cuts[1:]) if b > a}
        distinct, basis = len(seqs), "kernel sequence"
    return CudaGraphs(
        launches=int(len(launches)),
        launches_with_work=int(len(ops_per)),
        gpu_ops=int(in_graph.sum()),
        kernels=n_kernels,
        kernels_pct=n_kernels / all_kernels * 100 if all_kernels else 0.0,
        kernels_per_launch_mean=float(kernels_per.mean()) if len(kernels_per) else 0.0,
        kernels_per_launch_sizes=_sizes(kernels_per),
        gpu_ops_per_launch_mean=float(ops_per.mean()) if len(ops_per) else 0.0,
        gpu_ops_per_launch_sizes=_sizes(ops_per),
        gpu_time_us=float(replayed["dur"].sum()),
        launch_cpu_us=launch_cpu,
        single_launch_median_us=median,
        single_launches=int(len(single)),
        est_saved_cpu_us=(n_kernels * median - launch_cpu) if median is not None and n_kernels else None,
        graph_ids=graph_ids,
        distinct_graphs=distinct if len(ops_per) else 0,
        distinct_graphs_basis=basis,
    )


def _name_counts(trace):
    """Counts of marker names over CPU ops and annotations."""
    counts = {}
    for table in (trace.cpu_ops, trace.annotations):
        for regex, what in _MARKERS:
            counts[what] = counts.get(what, 0) + _count_names(table["name"], regex)
    return counts


def detect_mode(trace, graphs=None):
    """Execution mode from what the trace shows, with the evidence and its counts.

    compiled: Triton kernels (Inductor), compile markers or Inductor C++ kernels;
    cudagraph: graph launches that replayed GPU work (or graph ids). Both give
    "compiled+cudagraph"; neither gives "eager" when there are kernels or CPU ops
    to judge from, else "unknown". A partial mix is said in the evidence.
    `graphs`: the trace's cuda_graph_summary, when the caller already has it."""
    gpu, rt = trace.gpu, trace.runtime
    kernels = gpu[gpu["kind"] == "kernel"]
    n_k = len(kernels)
    triton = name_mask(kernels["name"], re.compile(r"^triton")) if n_k else np.zeros(0, bool)
    n_tr = int(triton.sum())
    evidence = []
    if n_tr:
        evidence.append(f"{n_tr} of {n_k} kernels ({n_tr / n_k * 100:.1f}%) are Triton kernels (Inductor)")
    driver = rt[name_mask(rt["name"], _DRIVER_RE)] if len(rt) else rt
    if len(driver):
        tri_corr = kernels["correlation"][triton]
        n_drv_tr = int(driver["correlation"].isin(tri_corr).sum())
        evidence.append(f"{len(driver)} kernel launches through the driver API (cuLaunchKernel/Ex), "
                        f"{n_drv_tr} of them Triton")
    markers = {what: n for what, n in _name_counts(trace).items() if n}
    evidence += [f"{n} {what}" for what, n in markers.items()]
    compiled = bool(n_tr or markers)

    graphs = cuda_graph_summary(trace) if graphs is None else graphs
    graphed = graphs.gpu_ops > 0 or graphs.launches > 0
    if graphed:
        evidence.append(f"{graphs.launches} CUDA graph launches replaying {graphs.gpu_ops} GPU ops "
                        f"({graphs.kernels} kernels, {graphs.kernels_pct:.1f}% of all kernels)")
        if graphs.graph_ids:
            evidence.append(f"{len(graphs.graph_ids)} distinct graph ids")
    if compiled and n_k and not n_tr:
        evidence.append("no Triton kernels: the compiled regions run ATen/library kernels (a non-Inductor "
                        "backend) or little GPU work")
    elif compiled and n_k and n_tr / n_k < 0.5:
        evidence.append(f"only {n_tr / n_k * 100:.1f}% of kernels are Triton: compiled code covers part "
                        f"of the run, the rest runs eagerly or in library kernels")
    if graphed and n_k and graphs.kernels_pct < 50:
        evidence.append(f"only {graphs.kernels_pct:.1f}% of kernels run inside graphs: the rest are "
                        f"launched one by one")

    if compiled and graphed:
        name = "compiled+cudagraph"
    elif compiled:
        name = "compiled"
    elif graphed:
        name = "cudagraph"
    elif n_k or len(trace.cpu_ops):
        name = "eager"
        n_launch = int(is_kind(rt["name"], "kernel").sum()) if len(rt) else 0
        evidence.append(f"{n_k} kernels, {n_launch} per-kernel launch calls, {len(trace.cpu_ops)} CPU ops; "
                        f"no Triton kernels, compile markers or CUDA graph launches")
    else:
        name = "unknown"
        evidence.append("no kernels and no CPU ops to judge from")
    return Mode(name=name, evidence=evidence)
