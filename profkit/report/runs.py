"""Collect the runs a report shows: trace files, their sidecars, their summaries."""

from dataclasses import dataclass
from pathlib import Path

from profkit.analysis import analyze as A
from profkit.analysis.result import Summary
from profkit.errors import ProfkitError
from profkit.runfiles.manifest import manifests_in, read_manifest
from profkit.runfiles.paths import is_manifest, is_trace_file, trace_stem, traces_in
from profkit.runfiles.sidecar import read_sidecar

# Comparison columns read left to right in the order a user optimises.
MODE_ORDER = ["eager", "compiled", "cudagraph", "compiled+cudagraph"]


def find_traces(inputs, notify=None):
    """Expand the command-line inputs (run manifests, trace files, folders) into trace files, in order.

    A folder holding run manifests stands for its latest run; `notify(text)` hears
    when there were several to choose from.
    """
    found = []
    for item in inputs:
        path = Path(item)
        if is_manifest(path):
            found.extend(_manifest_traces(path, read_manifest(path)))
        elif path.is_dir():
            manifests = manifests_in(path)
            if manifests:
                latest, manifest = manifests[0]
                if len(manifests) > 1 and notify:
                    others = ", ".join(p.name for p, _ in manifests[1:])
                    notify(f"{path} holds {len(manifests)} run manifests; rendering the latest, {latest.name} "
                           f"({manifest.created}); name another to render it ({others})")
                found.extend(_manifest_traces(latest, manifest))
            else:
                found.extend(traces_in(path))
        elif path.is_file():
            found.append(path)
        else:
            raise ProfkitError(f"no such trace file or folder: {path}; {_what_is_there(path)}")
    seen, unique = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _manifest_traces(path, manifest):
    paths = manifest.trace_paths(path.parent)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ProfkitError(f"{path} lists {', '.join(missing)}, missing from {path.parent}; "
                           f"{_what_is_there(path.parent / missing[0])}")
    if not paths:
        raise ProfkitError(f"{path} lists no finished mode (its capture failed before the first one ended)")
    return paths


def _what_is_there(path, shown=8):
    """What the folder of a missing `path` holds (or which folder is missing), for error messages."""
    folder, missing = Path(path).parent, None
    while not folder.is_dir():
        folder, missing = folder.parent, folder
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not p.name.startswith("."))
    where = f"{folder}/ is empty" if not names else f"{folder}/ holds {_listing(names, shown)}"
    if missing is not None:
        return f"{missing} does not exist; {where}"
    if any(is_trace_file(folder / n) for n in names):
        where += f" (report every trace there with: profkit report {folder})"
    return where


def _listing(names, shown):
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


@dataclass
class Run:
    """One trace with everything the report needs about it: its Analysis (the Summary and the
    tables it came from)."""

    path: Path
    analysis: A.Analysis
    label: str = ""

    @property
    def trace(self):
        return self.analysis.trace

    @property
    def summary(self) -> Summary:
        return self.analysis.summary

    @property
    def sidecar(self):
        return self.analysis.sidecar

    @property
    def mode(self):
        """The capture's own mode when profkit captured it, else the detected one."""
        if self.sidecar and self.sidecar.mode:
            return self.sidecar.mode
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


def load_runs(inputs, options=None, notify=None):
    """Load, summarise (with `options`, an AnalysisOptions) and order every trace named by `inputs`;
    `notify(text)` hears which of several run manifests a folder stands for."""
    from profkit.trace import load

    runs = []
    for path in find_traces(inputs, notify):
        analysis = A.analyze(load(path), sidecar=read_sidecar(path), options=options)
        analysis.summary  # noqa: B018 (computed here, in input order)
        runs.append(Run(path=path, analysis=analysis))
    unique_labels(runs)
    runs = order_runs(runs)
    check_whatif(runs)
    return runs


def check_whatif(runs):
    """An eager run's what-if, checked against the run that did what it predicts: a
    CUDA-graph run for a GPU trace, a compiled run for a CPU one (the first such run)."""
    for run in runs:
        if run.mode != "eager":
            continue
        gpu = run.trace.has_gpu
        target = next((r for r in runs if r.trace.has_gpu == gpu
                       and ("cudagraph" in r.mode if gpu else r.mode == "compiled")), None)
        if target is not None:
            run.summary.whatif = A.checked_whatif(run.analysis, target.analysis)
