"""The one interval toolkit: unions, coverage and membership of time ranges, in numpy.

Every analysis that asks "how much of [lo, hi] is covered", "which ranges hold these
times" or "what is the union of these activities" asks it here.
"""

import numpy as np


def union(ts, end):
    """Merge intervals: sorted disjoint (starts, ends) covering the same time."""
    if len(ts) == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(ts, kind="stable")
    ts, end = np.asarray(ts)[order], np.asarray(end)[order]
    reach = np.maximum.accumulate(end)
    new = np.ones(len(ts), bool)
    new[1:] = ts[1:] > reach[:-1]
    starts = ts[new]
    idx = np.flatnonzero(new)
    ends = reach[np.r_[idx[1:] - 1, len(ts) - 1]]
    return starts, ends


def runs(*keys):
    """[(start, stop), ...] of the runs of equal rows in `keys` (arrays of one length, already in the
    order that groups them): one slice per device, stream, ..., for per-group numpy work."""
    n = len(keys[0])
    if not n:
        return []
    change = np.zeros(n - 1, bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    cut = (np.flatnonzero(change) + 1).tolist()
    return list(zip([0, *cut], [*cut, n]))


def covered(starts, ends, lo, hi):
    """Time in [lo, hi] covered by sorted disjoint intervals (from union): only the intervals that
    reach into [lo, hi] are looked at, so asking once per step costs the step's intervals, not all."""
    a, b = np.searchsorted(ends, lo, side="right"), np.searchsorted(starts, hi, side="left")
    starts, ends = starts[a:b], ends[a:b]
    return float(np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0, None).sum())


def covered_both(a, b, lo, hi):
    """Time in [lo, hi] covered by both of two sets of disjoint intervals ((starts, ends)
    pairs from union): |A and B| = |A| + |B| - |A or B|."""
    both = union(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
    return max(0.0, covered(*a, lo, hi) + covered(*b, lo, hi) - covered(*both, lo, hi))


def busy_before(starts, ends, t):
    """Time covered by disjoint sorted intervals before each time in `t` (vectorised).

    The intervals that start before t all ended before it except the last one,
    which counts in part. Coverage of [a, b] is busy_before(b) - busy_before(a).
    """
    t = np.asarray(t, dtype=float)
    if not len(starts):
        return np.zeros(len(t))
    lengths = ends - starts
    done = np.concatenate([[0.0], np.cumsum(lengths)])
    k = np.searchsorted(starts, t, side="right") - 1
    last = np.maximum(k, 0)
    return done[last] + np.where(k >= 0, np.clip(t - starts[last], 0, lengths[last]), 0.0)


def in_ranges(t, starts, ends):
    """Mask over times `t`: inside at least one closed range [starts[i], ends[i]] (ranges may
    overlap or be unsorted; NaN is inside none)."""
    t = np.asarray(t, dtype=float)
    s, e = union(np.asarray(starts, dtype=float), np.asarray(ends, dtype=float))
    if not len(s):
        return np.zeros(len(t), bool)
    k = np.searchsorted(s, t, side="right") - 1
    return (k >= 0) & (t <= e[np.maximum(k, 0)])
