"""The analysis façade: what the CLI, the report and sweeps call, and nothing else of analysis.

- `analyze(trace, sidecar, options)` -> an `Analysis`: one trace's typed Summary and the
  derived tables it was computed from (profkit.analysis.tables), so a view that needs a
  table the Summary does not carry (the annotated trace's gaps and classes, a diff's
  per-kernel totals) gets the very table the Summary came from, with the same options;
- `summarize(trace, ...)`: the Summary alone;
- `summary(path, options)` / `summary_json(path, options)`: one trace file, answered from
  the result cache when nothing changed (profkit.analysis.result_cache);
- `job(...)`, `is_job(...)`, `why_not_a_job(...)`, `run_ranks(...)`: a folder of per-rank traces
  (profkit.analysis.ranks);
- `diff(a, b)`: the kernel diff of two runs (profkit.analysis.compare).

The result types live in profkit.analysis.result; the options in profkit.analysis.options.
"""

from profkit.analysis.options import AnalysisOptions
from profkit.analysis.result import NO_STEPS
from profkit.runfiles.sidecar import capture_of

__all__ = ["Analysis", "AnalysisOptions", "NO_STEPS", "FINDING_RULES", "analyze", "summarize", "summary",
           "summary_json", "annotation_table", "diff", "job", "is_job", "why_not_a_job", "run_ranks", "checked_whatif", "load_rules", "rule_table"]


class Analysis:
    """One trace's analysis: `summary` (computed on first use) and the tables it rests on."""

    def __init__(self, trace, sidecar=None, options=None):
        """`sidecar`: the capture's Capture (runfiles.sidecar.read_sidecar), or its dict (converted)."""
        from profkit.analysis.tables import Tables

        self.trace, self.sidecar = trace, capture_of(sidecar)
        self.options = options or AnalysisOptions()
        self.tables = Tables(trace)
        self._summary = None

    @property
    def summary(self):
        if self._summary is None:
            from profkit.analysis.summarize import summary_of

            self._summary = summary_of(self.tables, self.sidecar, self.options)
        return self._summary

    def kernel_totals(self, per_step=False):
        """Time and count per kernel (CPU traces: classified op) name, as `summarize` counts them."""
        from profkit.analysis.compare import kernel_totals

        return kernel_totals(self, per_step)

    def layers(self):
        """What the annotated trace draws: (the classified rows — trace.gpu, or trace.cpu_ops with
        stream -1 —, their classes, every idle gap of the GPU window), with this analysis' rules."""
        classes, _ = self.tables.classes(self.options.rules)
        table = self.trace.gpu if self.trace.has_gpu else self.trace.cpu_ops.assign(stream=-1)
        return table, classes, self.tables.gaps("gpu")

    def step_timing(self):
        """(number of steps, wall time per step in µs, how it was measured).

        The CPU side of a step can finish long before its GPU work (a CUDA-graph replay
        returns at once), so a step's wall time runs from the first step's start to
        whichever ends later: the last step or the last GPU activity."""
        steps = self.trace.steps
        if len(steps):
            end = float(steps["end"].max())
            if self.trace.has_gpu:
                end = max(end, float(self.trace.gpu["end"].max()))
            n = len(steps)
            return n, (end - float(steps["ts"].min())) / n, f"{n} profiler steps"
        return 0, self.summary.window_us.span, "whole profiled window (no profiler steps)"


def analyze(trace, sidecar=None, options=None):
    """The Analysis of a loaded Trace (its Summary is computed when first read)."""
    return Analysis(trace, sidecar, options)


def summarize(trace, sidecar=None, options=None):
    """The Summary of a loaded Trace."""
    return Analysis(trace, sidecar, options).summary


def summary(path, options):
    """The Summary of one trace file, from the result cache when its inputs are unchanged."""
    from profkit.analysis import result_cache

    return result_cache.summary(path, options)


def summary_json(path, options):
    """`analyze --json`'s bytes for one trace file; a cache hit needs no pandas and no analysis."""
    from profkit.analysis import result_cache

    return result_cache.summary_json(path, options)


def checked_whatif(analysis, against):
    """`analysis`' what-if prediction checked against the measured run `against` (an Analysis of the
    CUDA-graph or compiled run of the same workload)."""
    from profkit.analysis.time.whatif import whatif

    return whatif(analysis.tables, against=against.tables, breakdown=analysis.summary.cpu)


def diff(a, b):
    """Kernels added, removed and changed most between two Analyses (per step when both have steps)."""
    from profkit.analysis.compare import diff_runs

    return diff_runs(a, b)


def is_job(traces):
    from profkit.analysis import ranks

    return ranks.is_job(traces)


def why_not_a_job(members):
    from profkit.analysis import ranks

    return ranks.why_not_a_job(members)


def job(summaries, folder):
    from profkit.analysis import ranks

    return ranks.job(summaries, folder)


def run_ranks(paths, options=None):
    from profkit.analysis import ranks

    return ranks.run(paths, options)


def annotation_table(path, pattern=None):
    """Per annotation name of the trace at `path` (those matching the regex `pattern`): ranges, CPU
    time, kernels and GPU time (profkit.analysis.time.annotations)."""
    import re

    from profkit.analysis.time.annotations import breakdown, by_name
    from profkit.errors import ProfkitError
    from profkit.trace import load

    try:
        regex = re.compile(pattern) if pattern else None
    except re.error as e:
        raise ProfkitError(f"--by-annotation: not a regular expression ({e})") from None
    return by_name(breakdown(load(path)), regex)


def load_rules(path):
    from profkit.analysis.classes.user_rules import load_rules as load

    return load(path)


def rule_table(rules=()):
    from profkit.analysis.classes.user_rules import rule_table as table

    return table(rules)


def __getattr__(name):
    if name == "FINDING_RULES":  # the findings' rule table (imports pandas: only on demand)
        from profkit.analysis.advice.findings import RULES

        return RULES
    raise AttributeError(name)
