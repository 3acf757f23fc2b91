"""Two-run diff: which kernels appeared, vanished, or changed most in total time."""

import pandas as pd

from profkit.analysis.classify import classify_cpu_ops, self_time

TOP = 15


def kernel_totals(trace):
    """Time and count per kernel name over the whole trace.

    CPU traces: the self time of classified ops, as `summarize` counts them
    (nested ops each count once for their own work).
    """
    if trace.has_gpu:
        df = trace.gpu[["name", "dur"]]
    else:
        ops = trace.cpu_ops
        keep = classify_cpu_ops(trace).notna().to_numpy()
        df = pd.DataFrame({"name": ops["name"].to_numpy()[keep], "dur": self_time(ops)[keep]})
    g = df.assign(name=df["name"].astype(str)).groupby("name", sort=False)["dur"]
    return pd.DataFrame({"time_us": g.sum(), "count": g.count()})


def diff_runs(a, b, steps_a=0, steps_b=0):
    """Kernels added/removed and the largest changes, per step when both have steps."""
    ka, kb = kernel_totals(a.trace), kernel_totals(b.trace)
    per_step = bool(steps_a and steps_b)
    if per_step:
        ka, kb = ka / [steps_a, steps_a], kb / [steps_b, steps_b]
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
        "a": a.label, "b": b.label, "per_step": per_step,
        "added": rows(added.head(TOP)), "added_total": len(added),
        "removed": rows(removed.head(TOP)), "removed_total": len(removed),
        "changed": rows(changed.head(TOP)),
        "net_us": float(both["delta_us"].sum()),
    }
