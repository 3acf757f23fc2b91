"""Plotly figures as plain dicts (data + layout), built from aggregated numbers only.

Every figure stays small whatever the trace size: classes are 7 bars, the
timeline is the summary's fixed 200 bins plus its 20 largest gaps, the
histogram is the summary's log bins.
"""

import html

from profkit.analysis.result import CLASSES
from profkit.report.names import short_name
CLASS_COLORS = {
    "tensor_contraction": "#4c78a8", "normalization": "#f58518", "elementwise": "#54a24b",
    "attention": "#b279a2", "memory": "#9d755d", "communication": "#e45756", "other": "#bab0ac",
}
CAUSE_COLORS = {"host_bound": "#f58518", "sync": "#e45756", "other": "#9d9d9d"}
CAUSE_NAMES = {"host_bound": "host-bound", "sync": "sync", "other": "other"}
RUN_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]

_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def text(s):
    """Plotly renders a small HTML subset in labels: trace strings must stay text."""
    return html.escape(str(s), quote=False)


def class_label(c):
    return c.replace("_", " ")


def _layout(**kw):
    base = {"font": _FONT, "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"}}
    base.update(kw)
    return base


def class_time(runs, per_step):
    """Stacked horizontal bars: time per class for each run; `per_step`: the median per
    step (classes.<class>.per_step_us), else the time in the analysis window."""
    labels = [text(r.label) for r in runs]
    data = []
    for cls in CLASSES:
        xs = []
        for r in runs:
            c = r.summary.classes[cls]
            xs.append((c.per_step_us if per_step else c.time_us) / 1000.0)
        if not any(xs):
            continue
        data.append({"type": "bar", "orientation": "h", "name": class_label(cls), "y": labels, "x": xs,
                     "marker": {"color": CLASS_COLORS[cls]},
                     "hovertemplate": "%{y}<br>" + class_label(cls) + ": %{x:.3f} ms<extra></extra>"})
    unit = "ms per step (median)" if per_step else "ms in the analysis window"
    return {"data": data, "layout": _layout(
        barmode="stack", height=130 + 45 * len(runs), xaxis={"title": {"text": unit}, "gridcolor": "#eee"},
        yaxis={"autorange": "reversed", "automargin": True})}


BUSY_SCALE = ((0.0, (0xfb, 0xe3, 0xd6)), (50.0, (0x9e, 0xca, 0xe1)), (100.0, (0x08, 0x51, 0x9c)))


def busy_color(pct):
    """Busy % -> a colour on the strip's scale, as '#rrggbb'.

    Colours are computed here, not by a plotly colorscale: plotly.js resolves a
    numeric colour array on bars (hover labels, legend) as colour names and logs
    "Invalid color specifier" once per bin.
    """
    p = min(100.0, max(0.0, float(pct)))
    (x0, c0), (x1, c1) = (BUSY_SCALE[0], BUSY_SCALE[1]) if p <= 50.0 else (BUSY_SCALE[1], BUSY_SCALE[2])
    t = (p - x0) / (x1 - x0)
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(c0, c1))


def timeline(run):
    """One strip: busy % per time bin, and under it the largest gaps coloured by cause."""
    s = run.summary
    start = s.window_us.start
    bins = s.timeline
    data = [{
        "type": "bar", "orientation": "h", "name": "busy %", "showlegend": False,
        "y": ["busy"] * len(bins),
        "x": [(b.end_us - b.start_us) / 1000.0 for b in bins],
        "base": [(b.start_us - start) / 1000.0 for b in bins],
        "marker": {"color": [busy_color(b.busy_pct) for b in bins], "line": {"width": 0}},
        "customdata": [round(b.busy_pct, 1) for b in bins],
        "hovertemplate": "%{base:.3f} ms: busy %{customdata}%<extra></extra>",
    }]
    for cause in CAUSE_COLORS:
        gs = [g for g in s.gaps.largest if g.cause == cause]
        if not gs:
            continue
        data.append({
            "type": "bar", "orientation": "h", "name": f"{CAUSE_NAMES[cause]} gap",
            "y": ["gaps"] * len(gs), "x": [g.dur_us / 1000.0 for g in gs],
            "base": [(g.start_us - start) / 1000.0 for g in gs],
            "marker": {"color": CAUSE_COLORS[cause], "line": {"width": 0}},
            "customdata": ["<br>".join(text(line) for line in (
                f"{g.dur_us / 1000.0:.3f} ms {CAUSE_NAMES[cause]} gap",
                f"after: {short_name(g.before or '—', 60)}",
                f"before: {short_name(g.after or '—', 60)}")) for g in gs],
            "hovertemplate": "%{customdata}<extra></extra>",
        })
    return {"data": data, "layout": _layout(
        barmode="overlay", bargap=0.15, height=170, margin={"l": 50, "r": 20, "t": 10, "b": 40},
        xaxis={"title": {"text": "ms from the start of the window"}, "gridcolor": "#eee", "zeroline": False},
        yaxis={"categoryorder": "array", "categoryarray": ["gaps", "busy"], "fixedrange": True},
        showlegend=False)}


_COMM_ROWS = (("compute", "compute_pct", "#4c78a8"), ("communication", "communication_pct", "#e45756"),
              ("exposed comm", "exposed_pct", "#67000d"))


def comm_timeline(run):
    """Compute vs communication strip: per slice of the window, the share covered by
    computation, by communication, and by communication no computation hid."""
    s = run.summary
    bins = s.communication.timeline if s.communication else []
    start = s.window_us.start
    data = []
    for row, key, color in _COMM_ROWS:
        share = [getattr(b, key) for b in bins]
        data.append({
            "type": "bar", "orientation": "h", "name": row, "showlegend": False, "y": [row] * len(bins),
            "x": [(b.end_us - b.start_us) / 1000.0 for b in bins],
            "base": [(b.start_us - start) / 1000.0 for b in bins],
            "marker": {"color": share, "cmin": 0, "cmax": 100,
                       "colorscale": [[0, "#ffffff"], [1, color]], "line": {"width": 0}},
            "customdata": [round(v, 1) for v in share],
            "hovertemplate": "%{base:.3f} ms: " + row + " %{customdata}%<extra></extra>",
        })
    return {"data": data, "layout": _layout(
        barmode="overlay", bargap=0.15, height=190, margin={"l": 100, "r": 20, "t": 10, "b": 40},
        xaxis={"title": {"text": "ms from the start of the window"}, "gridcolor": "#eee", "zeroline": False},
        yaxis={"categoryorder": "array", "categoryarray": [r for r, _, _ in reversed(_COMM_ROWS)],
               "fixedrange": True},
        showlegend=False)}


def _bin_label(lo, hi):
    """'1–2 µs', '500 µs–1 ms', '≥ 100 ms'."""
    def split(us):
        return (f"{us / 1000:g}", "ms") if us >= 1000 else (f"{us:g}", "µs")
    (a, ua) = split(lo)
    if hi is None:
        return f"≥ {a} {ua}"
    (b, ub) = split(hi)
    return f"{a}–{b} {ub}" if ua == ub or lo == 0 else f"{a} {ua}–{b} {ub}"


def gap_histogram(runs):
    """Number of idle gaps per log-spaced size bin, one bar group per run.

    Bins empty in every run at either end are dropped so the bars fill the chart.
    """
    hists = [r.summary.gaps.histogram for r in runs]
    used = sorted({b.lo_us for h in hists for b in h if b.count})
    data, bins = [], {}
    for i, (r, hist) in enumerate(zip(runs, hists)):
        hist = [b for b in hist if used and used[0] <= b.lo_us <= used[-1]]
        xs = [_bin_label(b.lo_us, b.hi_us) for b in hist]
        bins.update({label: b.lo_us for label, b in zip(xs, hist)})
        data.append({"type": "bar", "name": text(r.label), "x": xs, "y": [b.count for b in hist],
                     "marker": {"color": RUN_COLORS[i % len(RUN_COLORS)]},
                     "customdata": [round(b.total_us / 1000.0, 3) for b in hist],
                     "hovertemplate": "%{x}: %{y} gaps, %{customdata} ms total<extra>" + text(r.label) + "</extra>"})
    return {"data": data, "layout": _layout(
        barmode="group", height=320, showlegend=len(runs) > 1,
        # automargin + standoff: the rotated bin labels push the title down instead of running into it
        xaxis={"title": {"text": "gap length", "standoff": 14}, "automargin": True, "categoryorder": "array",
               "categoryarray": sorted(bins, key=bins.get)},
        yaxis={"title": {"text": "gaps"}, "gridcolor": "#eee"})}


WHATIF_PARTS = (("work_us", "GPU work", "#4c78a8"), ("removed_gap_us", "host-bound gaps", CAUSE_COLORS["host_bound"]),
                ("kept_gap_us", "kept gaps", CAUSE_COLORS["other"]), ("launch_us", "graph launches", "#54a24b"))


def whatif_step(cg):
    """Measured step beside the predicted CUDA-graph step (and the measured graph run
    when there is one), stacked by the model's terms (per-step medians), with a mark
    at each median period and the predicted range as an error bar.
    `cg`: a summary's whatif.cudagraph (whatif.CudaGraphWhatIf)."""
    measured, predicted = "measured (this run)", "predicted (CUDA graphs)"
    rows = {measured: {"work_us": cg.work_us, "removed_gap_us": cg.removed_gap_us,
                       "kept_gap_us": cg.kept_gap_us},
            predicted: {"work_us": cg.work_us, "kept_gap_us": cg.kept_gap_us, "launch_us": cg.launch_gpu_us}}
    labels = list(rows)
    data = []
    for key, name, color in WHATIF_PARTS:
        xs = [rows[r].get(key, 0.0) / 1000.0 for r in labels]
        if any(xs):
            data.append({"type": "bar", "orientation": "h", "name": name, "y": labels, "x": xs,
                         "marker": {"color": color},
                         "hovertemplate": "%{y}<br>" + name + ": %{x:.3f} ms (median per step)<extra></extra>"})
    marks = {measured: cg.measured_step_us, predicted: cg.step_us}
    v = cg.validation
    if v:
        label = "measured (CUDA-graph run)"
        labels.append(label)
        marks[label] = v.measured_us
        data.append({"type": "bar", "orientation": "h", "name": "measured graph step", "y": [label],
                     "x": [v.measured_us / 1000.0], "marker": {"color": "#72b7b2"},
                     "hovertemplate": "%{y}: %{x:.3f} ms<extra></extra>"})
    data.append({"type": "scatter", "mode": "markers", "name": "median step", "y": list(marks),
                 "x": [us / 1000.0 for us in marks.values()],
                 "marker": {"color": "#222", "symbol": "line-ns-open", "size": 18, "line": {"width": 2}},
                 "error_x": {"type": "data", "symmetric": False,
                             "array": [(cg.worst_step_us - cg.step_us) / 1000.0 if k == predicted else 0
                                       for k in marks],
                             "arrayminus": [(cg.step_us - cg.best_step_us) / 1000.0 if k == predicted else 0
                                            for k in marks]},
                 "hovertemplate": "%{y}: median step %{x:.3f} ms<extra></extra>"})
    return {"data": data, "layout": _layout(
        barmode="stack", height=140 + 45 * len(labels),
        xaxis={"title": {"text": "ms per step"}, "gridcolor": "#eee", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True, "categoryorder": "array", "categoryarray": labels})}
