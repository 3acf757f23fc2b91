"""Turn runs into one self-contained HTML page (jinja2 + plotly, assets inlined)."""

import datetime as _dt
from importlib import resources

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from profkit import __version__
from profkit.analysis import analyze as A
from profkit.analysis.result import BLOCKER_LABELS, NO_STEPS
from profkit.report import figures as F
from profkit.report import fmt
from profkit.report import findings as FND
from profkit.report import metrics as M
from profkit.report.efficiency_view import efficiency_view
from profkit.report.header import run_header
from profkit.report.names import short_name

TOP_KERNELS = 50
SHORT_NAME_CHARS = 80  # kernel names in tables; the full name is the cell's title

_env = Environment(loader=PackageLoader("profkit.report", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["ms"] = fmt.ms
_env.filters["pct"] = fmt.pct
_env.filters["num"] = fmt.num
_env.filters["short"] = lambda name: short_name(name, limit=SHORT_NAME_CHARS)
_env.filters["cls"] = F.class_label
_env.globals["zip"] = zip


def script_json(obj):
    """JSON safe inside a <script> element: no '<', '>' or '&' can end it early.

    The escapes are valid JSON string escapes, and those characters only occur
    inside strings, so JSON.parse gives back exactly the original text.
    """
    text = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)


def _asset(name):
    return resources.files("profkit.report").joinpath("templates", name).read_text(encoding="utf-8")


def _plotly_js():
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _kernel_table(runs, per_run_totals):
    """Top kernels over all runs: time, share and count per run; sortable in the page."""
    classes, layers = {}, {}
    for r in runs:
        for k in r.summary.kernels:
            classes.setdefault(k.name, k.cls)
            layers.setdefault(k.name, k.classified_by)
    share = {}
    totals = []
    for t in per_run_totals:
        whole = float(t["time_us"].sum()) or 1.0
        totals.append(whole)
        for name, v in (t["time_us"] / whole).items():
            share[name] = max(share.get(name, 0.0), v)
    names = sorted(share, key=share.get, reverse=True)[:TOP_KERNELS]
    rows = []
    for name in names:
        cells = []
        for t, whole in zip(per_run_totals, totals):
            if name in t.index:
                cells.append({"us": float(t.at[name, "time_us"]), "count": int(t.at[name, "count"]),
                              "pct": 100.0 * float(t.at[name, "time_us"]) / whole})
            else:
                cells.append(None)
        rows.append({"name": name, "class": classes.get(name, ""), "by": layers.get(name), "cells": cells})
    return rows


def _ops_table(runs):
    """Launching ops over all runs (Summary.ops): calls, direct and subtree GPU time per run, the ops
    with the largest direct time in any run first; sortable in the page."""
    per_run = [{o.name: o for o in r.summary.ops} for r in runs]
    best = {}
    for ops in per_run:
        for name, o in ops.items():
            best[name] = max(best.get(name, 0.0), o.direct_kernel_us)
    return [{"name": name, "cells": [ops.get(name) for ops in per_run]}
            for name in sorted(best, key=best.get, reverse=True)[:TOP_KERNELS]]


def build_context(runs, trace_urls, hta=None):
    """Everything the template shows, computed from the runs."""
    numbers = [M.compute(r) for r in runs]
    per_step = all(r.summary.steps.source != NO_STEPS for r in runs)
    totals = [r.analysis.kernel_totals() for r in runs]
    # A chart with no bars says less than a sentence: empty figures are left out.
    figs = {}
    classes = F.class_time(runs, per_step)
    if classes["data"]:  # only classes with time get a trace
        figs["classes"] = classes
    gaps = F.gap_histogram(runs)
    if any(any(d["y"]) for d in gaps["data"]):
        figs["gaps"] = gaps
    for i, r in enumerate(runs):
        if r.summary.timeline:
            figs[f"timeline-{i}"] = F.timeline(r)
        if r.summary.communication and r.summary.communication.timeline:
            figs[f"comm-{i}"] = F.comm_timeline(r)
    whatif = [r.summary.whatif for r in runs]
    for i, w in enumerate(whatif):
        if w and w.cudagraph:
            figs[f"whatif-{i}"] = F.whatif_step(w.cudagraph)
    eff = efficiency_view(runs)
    figs.update(eff.pop("figures"))
    diff = {**A.diff(runs[0].analysis, runs[1].analysis), "a": runs[0].label, "b": runs[1].label} \
        if len(runs) == 2 else None
    title = runs[0].label if len(runs) == 1 else " vs ".join(r.label for r in runs)
    job = None
    if A.is_job([r.trace for r in runs]):
        job = A.job([r.summary for r in runs], runs[0].path.parent)
        title = f"{runs[0].path.parent.name}: {len(runs)} ranks"
    return {
        "title": title,
        "version": __version__,
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "runs": runs,
        "headers": [run_header(r) for r in runs],
        "numbers": numbers,
        "rows": M.headline_rows(runs, numbers, compare=job is None),
        "headline_notes": M.headline_notes(runs, numbers),
        "class_notes": M.class_total_notes(runs, numbers, per_step),
        "findings": FND.findings(runs, numbers, compare=job is None),
        "rules": A.FINDING_RULES,
        "class_unit": ("ms per step: the median over the profiler steps of the work each step launched"
                       if per_step else "ms in the analysis window (no profiler steps)"),
        "kernels": _kernel_table(runs, totals),
        "ops": _ops_table(runs),
        "eff": eff,
        "whatif": whatif,
        "blocker_labels": BLOCKER_LABELS,
        "diff": diff,
        "job": job,
        "hta": hta,
        "trace_urls": trace_urls,
        "class_colors": F.CLASS_COLORS,
        "cause_colors": F.CAUSE_COLORS,
        "figures_json": script_json(figs),
        "figure_ids": list(figs),
    }


def render_html(runs, trace_urls, hta=None):
    ctx = build_context(runs, trace_urls, hta)
    ctx["css"] = Markup(_asset("report.css"))
    ctx["js"] = Markup(_asset("perfetto.js") + _asset("report.js"))
    ctx["plotly_js"] = Markup(_plotly_js())
    return _env.get_template("report.html").render(**ctx)
