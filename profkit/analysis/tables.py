"""The derived tables of one trace, each built once and shared by every analysis of a `summarize`.

`Tables(trace)` hands out what several analyses need and no single one owns: the
blocking host calls (sync intervals), the step ranges and the step of each GPU
activity, the analysis window and the idle gaps of each window kind, and the CPU op
around a host moment. Each is built on first use; `builds` counts how often each was
built (once, or not at all), so a test can prove that nothing is rebuilt.
"""

from collections import Counter

import numpy as np

from profkit.analysis.classes import classify
from profkit.analysis.time import launches, steps, temporal


class Tables:
    def __init__(self, trace):
        self.trace = trace
        self.builds = Counter()
        self._kept = {}

    def _once(self, key, build):
        if key not in self._kept:
            self.builds[key[0] if isinstance(key, tuple) else key] += 1
            self._kept[key] = build()
        return self._kept[key]

    def blocking_calls(self):
        """Name, ts, end of the blocking host calls and cuda_sync events (launches.blocking_calls)."""
        return self._once("blocking_calls", lambda: launches.blocking_calls(self.trace))

    def syncs(self):
        """(ts, end) arrays of blocking_calls() (empty on CPU traces)."""
        if not self.trace.has_gpu:
            return np.empty(0), np.empty(0)
        calls = self.blocking_calls()
        return self._once("syncs", lambda: (calls["ts"].to_numpy(float), calls["end"].to_numpy(float)))

    def step_ranges(self):
        return self._once("step_ranges", lambda: steps.step_ranges(self.trace))

    def gpu_steps(self):
        """Step index (into step_ranges) of each row of trace.gpu_launches(), -1 outside every step."""
        return self._once("gpu_steps", lambda: steps.step_of(self.trace, self.trace.gpu_launches(),
                                                             self.step_ranges()))

    def window(self, kind):
        """(start, end, mask over trace.gpu_launches()) of the analysis window `kind` (GPU traces)."""
        return self._once(("window", kind), lambda: temporal.window(self.trace, self.trace.gpu_launches(), kind))

    def cpu_window(self):
        """(start, end) of a CPU trace's window: its steps, else its ops."""
        return self._once("cpu_window", lambda: _cpu_window(self.trace))

    def gaps(self, kind="gpu"):
        """Every idle gap of the window (one row each, with its device): of each device's GPU activity,
        or, on CPU traces, the holes between CPU ops (the window kind does not apply there)."""
        if not self.trace.has_gpu:
            return self._once("gaps", lambda: _cpu_gaps(self.trace.cpu_ops, *self.cpu_window()))

        def build():
            lo, hi, mask = self.window(kind)
            gpu = self.trace.gpu_launches()
            return temporal.gaps_by_device(gpu if mask.all() else gpu[mask], lo, hi, self.syncs())
        return self._once(("gaps", kind), build)

    def classes(self, rules=()):
        """The class of every GPU activity (trace.gpu rows) with the layer that decided it, or, on CPU
        traces, of every CPU op (None for the layer): classified once per set of rules."""
        def build():
            if self.trace.has_gpu:
                return classify.classify_gpu_layers(self.trace, rules)
            return classify.classify_cpu_ops(self.trace, rules), None
        return self._once(("classes", rules), build)

    def enclosing(self):
        """The CPU op around a host moment (EnclosingOps over trace.cpu_ops)."""
        return self._once("enclosing", lambda: EnclosingOps(self.trace.cpu_ops))


def _cpu_window(trace):
    steps_ = trace.steps
    if len(steps_):
        return float(steps_["ts"].min()), float(steps_["end"].max())
    ops = trace.cpu_ops
    if len(ops):
        return float(ops["ts"].min()), float(ops["end"].max())
    return 0.0, 0.0


def _cpu_gaps(ops, lo, hi):
    """Holes between CPU ops: host time outside any profiled op (Python, the framework)."""
    empty = np.empty(0)
    return temporal.gaps(ops.assign(launch_ts=np.nan), lo, hi, (empty, empty)).assign(device=-1)


class EnclosingOps:
    """The CPU ops around a host moment, from one index of trace.cpu_ops (rows sorted by pid, tid, ts;
    `parent` the enclosing op's row): per thread, the last op starting at or before a time and that
    op's ancestors are the only candidates, so each question costs a binary search and a walk up
    one chain per thread, not a scan of every op."""

    def __init__(self, ops):
        self.ts, self.end = ops["ts"].to_numpy(float), ops["end"].to_numpy(float)
        self.dur, self.parent = self.end - self.ts, ops["parent"].to_numpy()
        self.names = ops["name"].astype(str).to_numpy()
        pid, tid = ops["pid"].to_numpy().astype(np.int64), ops["tid"].to_numpy().astype(np.int64)
        change = np.flatnonzero((pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])) + 1
        edges = [0, *change.tolist(), len(ops)] if len(ops) else []
        self.threads = [(int(tid[a]), a, b) for a, b in zip(edges[:-1], edges[1:])]

    def _last_around(self, a, b, start, end):
        """The innermost op of rows [a, b) (one thread) that encloses [start, end], or -1."""
        j = a + int(np.searchsorted(self.ts[a:b], start, side="right")) - 1
        while j >= a and self.end[j] < end:
            j = int(self.parent[j])
        return j if j >= a else -1

    def shortest_around(self, start, end):
        """Name of the shortest op, on any thread, enclosing [start, end] (of equal lengths the outer
        one, then the first in cpu_ops order), or None."""
        best = None
        for _, a, b in self.threads:
            j = self._last_around(a, b, start, end)
            if j < 0:
                continue
            while self.parent[j] >= 0 and self.dur[self.parent[j]] == self.dur[j]:
                j = int(self.parent[j])  # same length: the earlier (outer) op, as a scan would pick
            if best is None or (self.dur[j], j) < (self.dur[best], best):
                best = j
        return None if best is None else str(self.names[best])

    def cause(self, tid, ts):
        """The op behind a host event at `ts` on thread `tid`: its outermost aten:: op, else its
        innermost op; tid -1 (an event on the GPU's timeline): the shortest op of any thread
        around ts. None when no op encloses it."""
        found = [j for t, a, b in self.threads if tid == -1 or t == tid
                 for j in [self._last_around(a, b, ts, ts)] if j >= 0]
        i = min(found, key=lambda j: self.dur[j]) if found else -1
        inner, best = (self.names[i] if i >= 0 else None), None
        while i >= 0:
            if self.names[i].startswith("aten::"):
                best = self.names[i]
            i = int(self.parent[i])
        return best or inner
