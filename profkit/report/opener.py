"""`profkit open`: a trace (or every mode of a run) in ui.perfetto.dev, one command away.

The traces, and annotated copies with profkit's gap and class tracks
(profkit.report.annotate), are put in a private temporary folder and served by
profkit.report.serve on 127.0.0.1 only, with a small page that loads the Perfetto
UI from ui.perfetto.dev and hands it each trace through Perfetto's documented
postMessage protocol (perfetto.js, shared with the report's buttons). Only the UI
itself comes from the internet; the trace stays between this machine's server and
its browser.
"""

import os
import shutil
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from profkit import __version__
from profkit.fileio import write_text_atomic
from profkit.report.annotate import annotate, write_copy
from profkit.report.build import _safe
from profkit.report.runs import find_traces
from profkit.report.serve import make_server, url_of
from profkit.runfiles.paths import trace_stem

PAGE = "index.html"
_env = Environment(loader=PackageLoader("profkit.report", "templates"), autoescape=select_autoescape(default=True))


def stage(inputs, folder, notify=None, keep_secrets=False):
    """Put the traces of `inputs` (a run manifest, traces, folders) and their annotated copies in
    `folder`, with the page that opens them; returns one dict per trace (label, file names)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged, labels = [], set()
    for path in find_traces(inputs, notify):
        label = _safe(trace_stem(path))
        base, n = label, 2
        while label in labels:
            label, n = f"{base}-{n}", n + 1
        labels.add(label)
        original = f"{label}{Path(path).name[len(trace_stem(path)):]}"
        annotated = f"{label}.annotated.json.gz"
        counts = annotate(path, folder / annotated, keep_secrets=keep_secrets)
        if counts["masked"]:  # the original as it is, but for its credentials
            original = f"{label}.json.gz"
            write_copy(path, folder / original)
        else:
            _link_or_copy(path, folder / original)
        staged.append({"label": label, "original": original, "annotated": annotated,
                       "original_url": quote(original), "annotated_url": quote(annotated)})
    js = resources.files("profkit.report").joinpath("templates", "perfetto.js").read_text(encoding="utf-8")
    page = _env.get_template("open.html").render(traces=staged, version=__version__, perfetto_js=Markup(js),
                                                 title=", ".join(t["label"] for t in staged))
    write_text_atomic(folder / PAGE, page)
    return staged


def _link_or_copy(src, dest):
    """A hard link when src is on the same file system (instant, no space), else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def open_server(inputs, folder, port=0, notify=None, keep_secrets=False):
    """Stage `inputs` in `folder` and return (server, page URL, staged traces); the server is not started."""
    staged = stage(inputs, folder, notify, keep_secrets)
    server = make_server(folder, port)
    return server, url_of(server, PAGE), staged
