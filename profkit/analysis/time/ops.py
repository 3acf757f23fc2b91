"""GPU time per launching CPU op, as TraceLens's ops_summary counts it.

For each op call that launched GPU activities itself (the innermost op of their external id,
trace.op_rows): its direct time is what it launched, its subtree time that plus what the ops
nested inside it launched; per op name the calls, direct and subtree times are summed. Every GPU
activity counts (a `.item()`'s device-to-host copy too), as in TraceLens.
"""

import numpy as np
import pandas as pd

COLUMNS = ["name", "calls", "direct_kernel_us", "subtree_kernel_us"]


def op_times(trace):
    """One row per op name that launched GPU work (COLUMNS), the most direct time first."""
    ops = trace.cpu_ops
    if not trace.has_gpu or not len(ops):
        return pd.DataFrame(columns=COLUMNS)
    rows = trace.op_rows
    take = rows >= 0
    direct = np.bincount(rows[take], weights=trace.gpu["dur"].to_numpy()[take], minlength=len(ops))
    subtree = direct.copy()
    parent, depth = ops["parent"].to_numpy(), ops["depth"].to_numpy()
    for d in range(int(depth.max()), 0, -1):  # children before parents: one pass per nesting level
        at = np.flatnonzero(depth == d)
        np.add.at(subtree, parent[at], subtree[at])
    launched = np.flatnonzero(np.bincount(rows[take], minlength=len(ops)) > 0)
    df = pd.DataFrame({"name": ops["name"].astype(str).to_numpy()[launched], "direct": direct[launched],
                       "subtree": subtree[launched]})
    out = df.groupby("name", sort=False).agg(calls=("direct", "size"), direct_kernel_us=("direct", "sum"),
                                              subtree_kernel_us=("subtree", "sum")).reset_index()
    return out.sort_values("direct_kernel_us", ascending=False, kind="stable", ignore_index=True)[COLUMNS]
