"""`profkit report`: load the runs, write the annotated traces and the HTML page."""

import re
from pathlib import Path
from urllib.parse import quote

from profkit.errors import ProfkitError
from profkit.fileio import write_text_atomic
from profkit.report.annotate import annotate
from profkit.report.hta_section import hta_section
from profkit.report.render import render_html
from profkit.report.runs import find_traces, load_runs
from profkit.runfiles.manifest import NAME as MANIFEST
from profkit.runfiles.paths import is_manifest
from profkit.runfiles.paths import trace_stem

REPORTS_DIR = Path("reports")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name):
    return _UNSAFE.sub("_", name).strip("._") or "run"


def default_output(inputs):
    """reports/<trace stem>.html for one trace, reports/<folder>.html for a folder,
    reports/<a>-vs-<b>.html for a few files."""
    inputs = [Path(i) for i in inputs]
    if len(inputs) == 1 and inputs[0].is_dir():
        name = inputs[0].resolve().name
    elif len(inputs) == 1 and is_manifest(inputs[0]):
        folder = inputs[0].resolve().parent.name
        name = folder if inputs[0].name == MANIFEST else f"{folder}-{inputs[0].name[:-len('.json')]}"
    else:
        stems = [trace_stem(p) for p in find_traces(inputs)]
        name = stems[0] if len(stems) == 1 else "-vs-".join(stems)
        if len(name) > 120:
            name = f"{stems[0]}-and-{len(stems) - 1}-more"
    return REPORTS_DIR / f"{_safe(name)}.html"


def traces_dir(out):
    """The folder beside a report holding the annotated traces its buttons open."""
    out = Path(out)
    return out.with_name(out.stem + "_traces")


def build_report(inputs, out=None, hta=True, options=None, notify=None, keep_secrets=False):
    """Write the report for `inputs` (run manifests, trace files and/or folders); return its path.

    `options`: an AnalysisOptions (its rules also label the annotated traces); `notify(text)` hears
    about choices made for the user (which of several runs a folder stands for); the annotated copies
    mask credential-like metadata unless `keep_secrets`."""
    out = Path(out) if out else default_output(inputs)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ProfkitError(f"the report is an HTML file: name it *.html, not {out.name}")
    runs = load_runs(inputs, options, notify)
    tdir = traces_dir(out)
    urls = []
    for run in runs:
        name = f"{_safe(run.label)}.json.gz"
        annotate(run.path, tdir / name, analysis=run.analysis, keep_secrets=keep_secrets)
        urls.append(quote(f"{tdir.name}/{name}"))
    sections = [hta_section(r, r.analysis.step_timing()[0]) for r in runs] if hta else None
    write_text_atomic(out, render_html(runs, urls, sections))
    return out
