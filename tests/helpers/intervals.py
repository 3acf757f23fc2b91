"""Interval arithmetic in plain Python, and a trace's events read with json: independent of profkit."""

import gzip
import json


def merge(intervals):
    """Disjoint sorted intervals covering the same time (plain Python)."""
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def length(intervals):
    return sum(e - s for s, e in intervals)


def intersect(a, b):
    """Length of the intersection of two merged interval lists (two-pointer walk)."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def events(path):
    with gzip.open(path) as f:
        return json.load(f)["traceEvents"]
