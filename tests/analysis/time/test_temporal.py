"""Busy/idle union and gap logic against a brute-force timeline."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from profkit.analysis.time import intervals
from profkit.analysis.time import temporal
from profkit.analysis.result import CauseTotal

pairs_of = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30)), min_size=1, max_size=40)


def brute_busy(pairs, lo, hi):
    """Mark every 1-unit cell that some interval covers (integers only)."""
    grid = np.zeros(hi - lo, bool)
    for ts, dur in pairs:
        grid[max(ts, lo) - lo:max(min(ts + dur, hi) - lo, 0)] = True
    return grid


@settings(max_examples=200, deadline=None)
@given(pairs_of)
def test_union_and_coverage_match_brute_force(pairs):
    ts = np.array([p[0] for p in pairs], float)
    end = ts + np.array([p[1] for p in pairs], float)
    starts, ends = intervals.union(ts, end)
    assert np.all(starts[1:] > ends[:-1])  # disjoint and sorted
    assert intervals.covered(starts, ends, 0, 300) == brute_busy(pairs, 0, 300).sum()
    assert intervals.covered(starts, ends, 50, 120) == brute_busy(pairs, 50, 120).sum()


@settings(max_examples=200, deadline=None)
@given(pairs_of)
def test_gaps_are_the_holes_of_the_union(pairs):
    ts = np.array([p[0] for p in pairs], float)
    dur = np.array([p[1] for p in pairs], float)
    gpu = pd.DataFrame({"ts": ts, "end": ts + dur, "name": "k", "launch_ts": ts - 1})
    lo, hi = ts.min(), (ts + dur).max()
    g = temporal.gaps(gpu, lo, hi, (np.empty(0), np.empty(0)))
    idle = (~brute_busy(pairs, int(lo), int(hi))).sum()
    assert g["dur_us"].sum() == idle
    assert (g["dur_us"] > 0).all()


def test_gap_causes():
    # k1 [0,10); k2 launched at 15 (after the GPU went idle at 10) -> host_bound;
    # k3 launched at 5 but starts at 40 with nothing blocking -> other;
    # k4 launched at 60, after the idle start, by a host blocked in a sync -> sync;
    # k5 already launched (at 20) when a sync was in flight: the sync is not why -> other.
    gpu = pd.DataFrame({
        "ts": [0.0, 20, 40, 70, 90], "end": [10.0, 30, 50, 80, 95], "name": ["k1", "k2", "k3", "k4", "k5"],
        "launch_ts": [-1.0, 15, 5, 60, 20]})
    syncs = (np.array([45.0, 78]), np.array([52.0, 85]))
    g = temporal.gaps(gpu, 0, 95, syncs)
    assert g["cause"].tolist() == ["host_bound", "other", "sync", "other"]
    assert g["before"].tolist() == ["k1", "k2", "k3", "k4"]
    assert g["after"].tolist() == ["k2", "k3", "k4", "k5"]
    s = temporal.gap_summary(g.assign(device=0))
    assert s.count == 4 and s.total_us == 10 + 10 + 20 + 10
    assert s.by_cause["sync"] == CauseTotal(count=1, total_us=20.0)
    assert sum(b.count for b in s.histogram) == 4


def test_timeline_integrates_to_busy_time():
    starts, ends = intervals.union(np.array([0.0, 25, 60]), np.array([10.0, 50, 61]))
    tl = temporal.timeline(starts, ends, 0, 100, bins=10)
    assert [round(b.busy_pct) for b in tl] == [100, 0, 50, 100, 100, 0, 10, 0, 0, 0]
    assert sum(b.busy_pct for b in tl) / 10 == intervals.covered(starts, ends, 0, 100)
