"""Findings: what to try next, each from one rule of a table, with its evidence.

A finding is a typed record (`Finding`): a stable rule id, a severity, the
sentence, the action to try, the evidence (numbers, and the ops, gaps and
kernels of the trace they rest on) and the preconditions that were checked
(`applies_when`). `RULES` is the one table: every rule names its thresholds and
preconditions, and docs/findings.md documents them. `analyze --json`, the
terminal and the HTML report all print what `findings()` returns.

The engine (facts, preconditions, the quality gate) is profkit.analysis.advice.engine;
the checks are in time_checks and work_checks.
"""

from profkit.analysis.advice import time_checks as T
from profkit.analysis.advice import work_checks as W
from profkit.analysis.advice.engine import Rule, evaluate

RULES = (
    Rule("kv_cache_growth", "warn", ("shapes", "growing_cache"), {"cat_pct": 1.0}, W.growing_kv_cache,
         "aten::cat with one dimension growing call after call takes >= cat_pct% of (decode) time, counted as "
         "calls x median duration -> static KV cache"),
    Rule("launch_bound", "warn", ("gpu", "not_graphed"),
         {"idle_pct": 20.0, "host_bound_share": 50.0, "one_gap_max_share": 50.0}, T.launch_bound,
         "GPU idle >= idle_pct% and host-bound gaps >= host_bound_share% of idle, no single gap above "
         "one_gap_max_share% of them -> CUDA graphs"),
    Rule("sync_gaps", "warn", ("gpu",), {"idle_pct": 10.0, "sync_share": 30.0}, T.sync_gaps,
         "GPU idle >= idle_pct% and sync gaps >= sync_share% of idle -> the op that blocked the host"),
    Rule("host_copies", "warn", ("gpu",), {"copy_pct_of_busy": 10.0}, T.host_copies,
         "HtoD/DtoH memcpy >= copy_pct_of_busy% of GPU busy time -> pinned memory, non_blocking"),
    Rule("memory_bound_fusion", "warn", ("gpu", "not_compiled"), {"norm_elementwise_pct": 30.0}, W.memory_bound,
         "normalization + elementwise >= norm_elementwise_pct% of kernel time -> fusion"),
    Rule("compile_in_window", "warn", (), {"compile_pct": 5.0}, W.compile_in_window,
         "Dynamo/Inductor compile regions cover >= compile_pct% of the window -> warm up before profiling"),
    Rule("small_gemm_batching", "info", ("shapes",),
         {"gemm_pct": 20.0, "gemm_efficiency_pct": 25.0, "small_rows": 256}, W.small_gemms,
         "GEMMs >= gemm_pct% of time below gemm_efficiency_pct% of the limit, median M <= small_rows -> batch"),
    Rule("large_gap", "info", ("gpu",), {"gap_share_of_window_pct": 10.0}, T.large_gap,
         "one idle gap >= gap_share_of_window_pct% of the window -> look at it in Perfetto"),
    Rule("exposed_communication", "warn", ("gpu",), {"exposed_pct": 20.0}, T.exposed_communication,
         "communication not overlapped by compute >= exposed_pct% of the window -> overlap it, fewer and "
         "larger collectives, another parallelism"),
    Rule("gpu_bound", "good", ("gpu",), {"busy_pct": 90.0, "exposed_share_of_busy": 50.0}, T.gpu_bound,
         "GPU busy >= busy_pct%, less than exposed_share_of_busy% of it exposed communication -> faster "
         "kernels, not launch overhead"),
    Rule("cuda_graphs", "info", ("gpu",), {"graphed_pct": 90.0}, T.cuda_graphs,
         "CUDA-graph launches present: nothing to do when >= graphed_pct% of kernels replay from graphs, else "
         "capture the kernels still launched one by one"),
    Rule("cudagraph_whatif", "info", ("gpu", "not_graphed"), {"saved_pct": 10.0}, T.cudagraph_whatif,
         "the what-if model predicts CUDA graphs save >= saved_pct% of the step -> capture it (blockers first)"),
    Rule("unclassified", "info", (), {"other_pct": 10.0}, W.unclassified,
         "class other >= other_pct% -> names to add to the classifier"),
)




def findings(tables, summary, sidecar=None):
    """Every rule of RULES whose preconditions hold and whose check fires, in table order."""
    return evaluate(RULES, tables, summary, sidecar)
