"""Two-run diff: which kernels appeared, vanished, or changed most in total time (the report's kernel diff).

When both runs have profiler steps, each kernel's time and count are per step: the
work launched inside the steps (launch call -> correlation -> activity, as
profkit.analysis.time.steps attributes it) divided by the number of steps. Work launched
outside every step (warm-up, CUDA-graph capture) is left out, so it cannot inflate a
run's per-step figures. Without steps, the totals over each whole trace are compared.
"""

import numpy as np
import pandas as pd

from profkit.analysis.classes.classify import self_time
from profkit.analysis.result import NO_STEPS
from profkit.analysis.time.steps import step_of_times

TOP = 15


def kernel_totals(analysis, per_step=False):
    """Time and count per kernel name over the whole trace, or (`per_step`) the mean
    per step of the work launched inside the steps (an Analysis: its trace, tables and rules).

    CPU traces: the self time of classified ops, as `summarize` counts them
    (nested ops each count once for their own work), in the step they start in.
    """
    trace, tables = analysis.trace, analysis.tables
    if trace.has_gpu:
        gpu = trace.gpu_launches() if per_step else trace.gpu
        df = pd.DataFrame({"name": gpu["name"].astype(str).to_numpy(), "dur": gpu["dur"].to_numpy()})
    else:
        ops = trace.cpu_ops
        keep = tables.classes(analysis.options.rules)[0].notna().to_numpy()
        df = pd.DataFrame({"name": ops["name"].astype(str).to_numpy()[keep], "dur": self_time(ops)[keep]})
    n = 1
    if per_step:
        ranges = tables.step_ranges()
        idx = tables.gpu_steps() if trace.has_gpu else step_of_times(ranges, ops["ts"].to_numpy()[keep])
        df, n = df[np.asarray(idx) >= 0], ranges.count
    g = df.groupby("name", sort=False)["dur"]
    return pd.DataFrame({"time_us": g.sum() / n, "count": g.count() / n})


def diff_runs(a, b):
    """Kernels added/removed and the largest changes between two Analyses, per step when both
    runs have steps."""
    per_step = a.summary.steps.source != NO_STEPS and b.summary.steps.source != NO_STEPS
    ka, kb = kernel_totals(a, per_step), kernel_totals(b, per_step)
    both = ka.add_suffix("_a").join(kb.add_suffix("_b"), how="outer").fillna(0.0)
    both["delta_us"] = both["time_us_b"] - both["time_us_a"]

    def rows(frame):
        return [{"name": name, "time_a": r.time_us_a, "time_b": r.time_us_b, "delta": r.delta_us,
                 "count_a": r.count_a, "count_b": r.count_b} for name, r in frame.iterrows()]

    added = both[(both["count_a"] == 0) & (both["count_b"] > 0)].sort_values("time_us_b", ascending=False)
    removed = both[(both["count_b"] == 0) & (both["count_a"] > 0)].sort_values("time_us_a", ascending=False)
    common = both[(both["count_a"] > 0) & (both["count_b"] > 0)]
    changed = common.reindex(common["delta_us"].abs().sort_values(ascending=False).index)
    return {
        "per_step": per_step,
        "added": rows(added.head(TOP)), "added_total": len(added),
        "removed": rows(removed.head(TOP)), "removed_total": len(removed),
        "changed": rows(changed.head(TOP)),
        "net_us": float(both["delta_us"].sum()),
    }
