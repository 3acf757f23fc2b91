"""Collect the runs a report shows: trace files, their sidecars, their summaries."""

from dataclasses import dataclass
from pathlib import Path

from profkit.analysis.result import Summary
from profkit.errors import ProfkitError
from profkit.trace.sidecar import read_sidecar, trace_stem, traces_in

# Comparison columns read left to right in the order a user optimises.
MODE_ORDER = ["eager", "compiled", "cudagraph", "compiled+cudagraph"]


def find_traces(inputs):
    """Expand the command-line inputs (files and folders) into trace files, in order."""
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(traces_in(path))
        elif path.is_file():
            found.append(path)
        else:
            raise ProfkitError(f"no such trace file or folder: {path}")
    seen, unique = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


@dataclass
class Run:
    """One trace with everything the report needs about it."""

    path: Path
    trace: object
    summary: Summary
    sidecar: dict | None
    label: str = ""

    @property
    def mode(self):
        """The capture's own mode when profkit captured it, else the detected one."""
        if self.sidecar and isinstance(self.sidecar.get("mode"), str):
            return self.sidecar["mode"]
        return self.summary.mode.name


def mode_rank(mode):
    return MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER)


def order_runs(runs):
    """eager -> compiled -> cudagraph when modes are known; input order breaks ties."""
    return sorted(runs, key=lambda r: mode_rank(r.mode))


def unique_labels(runs):
    """Column labels: the trace stem, made unique when two folders share a name."""
    counts = {}
    for run in runs:
        stem = trace_stem(run.path)
        counts[stem] = counts.get(stem, 0) + 1
    for run in runs:
        stem = trace_stem(run.path)
        run.label = stem if counts[stem] == 1 else f"{run.path.parent.name}/{stem}"


def load_runs(inputs, options=None):
    """Load, summarise (with `options`, an AnalysisOptions) and order every trace named by `inputs`."""
    from profkit.analysis.summary import summarize
    from profkit.trace import load

    runs = []
    for path in find_traces(inputs):
        trace = load(path)
        sidecar = read_sidecar(path)
        runs.append(Run(path=path, trace=trace, summary=summarize(trace, sidecar=sidecar, options=options), sidecar=sidecar))
    unique_labels(runs)
    return order_runs(runs)
