"""FLOPs % vs runtime % per class, MUE per class and roofline position, when measured.

The numbers come from the summary's `efficiency` block (per-class pct_flops,
pct_time, mue_pct, and the paper's BERT table as `reference`) and its `roofline`
block (profkit captures). They exist only for traces recorded with shapes, and
for the roofline a sidecar and a device with known peaks; otherwise the page says so.
"""

import math

from profkit.report import figures as F
from profkit.report import fmt

PHASES = (("prefill", "prefill (TTFT)"), ("decode_step", "decode step (per token)"))


def _classes(run):
    return run.summary.efficiency.classes


def _has_flops(run):
    return any(v.pct_flops is not None for v in _classes(run).values())


def _share_figure(runs):
    data = []
    for i, r in enumerate(runs):
        cls = [c for c in F.CLASSES if c in _classes(r) and _classes(r)[c].pct_flops is not None]
        if not cls:
            continue
        x = [F.class_label(c) for c in cls]
        color = F.RUN_COLORS[i % len(F.RUN_COLORS)]
        data.append({"type": "bar", "name": F.text(f"{r.label}: % of FLOPs"), "x": x,
                     "y": [_classes(r)[c].pct_flops for c in cls], "marker": {"color": color}})
        data.append({"type": "bar", "name": F.text(f"{r.label}: % of runtime"), "x": x,
                     "y": [_classes(r)[c].pct_time or 0.0 for c in cls],
                     "marker": {"color": color, "opacity": 0.55, "pattern": {"shape": "/"}}})
    return {"data": data, "layout": F._layout(barmode="group", height=340,
                                              yaxis={"title": {"text": "%"}, "gridcolor": "#eee"})}


def _mue_figure(runs):
    data = []
    for i, r in enumerate(runs):
        cls = [c for c in F.CLASSES if c in _classes(r) and _classes(r)[c].mue_pct is not None]
        if cls:
            data.append({"type": "bar", "name": F.text(r.label), "x": [F.class_label(c) for c in cls],
                         "y": [_classes(r)[c].mue_pct for c in cls],
                         "marker": {"color": F.RUN_COLORS[i % len(F.RUN_COLORS)]}})
    return {"data": data, "layout": F._layout(barmode="group", height=320,
                                              yaxis={"title": {"text": "MUE % (of peak bandwidth)"},
                                                     "gridcolor": "#eee"})}


def _roofline_points(runs):
    """(label, phase, intensity FLOP/B, achieved TFLOP/s, device) for measured phases."""
    points = []
    for r in runs:
        roof = r.summary.roofline
        if roof is None:
            continue
        for key, name in PHASES:
            p = getattr(roof, key)
            ms = p.measured_ms
            if p.flops and p.bytes and ms is not None and ms > 0:
                points.append((r.label, name, p.flops / p.bytes, p.flops / (ms * 1e-3) / 1e12, roof.device))
    return points


def _roofline_figure(runs):
    points = _roofline_points(runs)
    dev = next((d for *_, d in points if d and d.bandwidth_gbs and d.peak_tflops), None)
    if not points or dev is None:
        return None
    bw, peak = dev.bandwidth_gbs, dev.peak_tflops
    ai = [p[2] for p in points]
    lo, hi = min(ai + [peak * 1e3 / bw]) / 10, max(ai + [peak * 1e3 / bw]) * 10
    xs = [lo * (hi / lo) ** (i / 60) for i in range(61)]
    data = [{"type": "scatter", "mode": "lines", "name": F.text(f"roof: {dev.name}"), "x": xs,
             "y": [min(peak, x * bw / 1e3) for x in xs], "line": {"color": "#1d2330", "width": 2}}]
    for i, (label, phase, x, y, _) in enumerate(points):
        data.append({"type": "scatter", "mode": "markers", "name": F.text(f"{label}: {phase}"), "x": [x], "y": [y],
                     "marker": {"size": 11, "color": F.RUN_COLORS[i % len(F.RUN_COLORS)],
                                "symbol": "circle" if "prefill" in phase else "diamond"}})
    return {"data": data, "layout": F._layout(
        height=380, xaxis={"type": "log", "title": {"text": "arithmetic intensity (FLOP/byte)"}, "gridcolor": "#eee"},
        yaxis={"type": "log", "title": {"text": "achieved TFLOP/s"}, "gridcolor": "#eee",
               "range": [math.log10(min(p[3] for p in points) / 10), math.log10(peak * 2)]})}


def efficiency_view(runs):
    """Tables and figures for the efficiency section, and which runs lack the data."""
    have = [_has_flops(r) for r in runs]
    figures = {}
    if any(have):
        figures["flops"] = _share_figure(runs)
    mue = _mue_figure(runs)
    if mue["data"]:
        figures["mue"] = mue
    roof_fig = _roofline_figure(runs)
    if roof_fig:
        figures["roofline"] = roof_fig
    table = [{"class": c, "runs": [_classes(r)[c] if h and c in _classes(r) else None for r, h in zip(runs, have)]}
             for c in F.CLASSES if any(h and c in _classes(r) for r, h in zip(runs, have))]
    reference = runs[0].summary.efficiency.reference if runs else None
    roofline = [{"label": r.label, "phases": [(name, getattr(r.summary.roofline, k)) for k, name in PHASES]}
                for r in runs if r.summary.roofline is not None]
    return {"available": any(have), "missing": [r.label for r, h in zip(runs, have) if not h],
            "table": table, "reference": reference, "roofline": roofline, "figures": figures,
            "unavailable": _reasons(runs, "efficiency"), "roofline_unavailable": _reasons(runs, "roofline"),
            "peaks": _peaks(runs)}


def _peaks(runs):
    """[(peaks line, [run labels])]: the peaks each run's MUE and roofline used, where they came
    from (source, date) and any flag (measured under load)."""
    out = {}
    for r in runs:
        roof = r.summary.roofline.device if r.summary.roofline is not None else None
        eff = r.summary.efficiency.device if r.summary.efficiency is not None else None
        dev = roof or eff
        if dev:
            line = (f"{dev.name}: {fmt.plain(dev.bandwidth_gbs, '.1f')} GB/s"
                    + (f", {fmt.plain(roof.peak_tflops, '.3g')} TFLOP/s" if roof else "")
                    + f" ({dev.source or 'no source'})" + (f"; {dev.note}" if dev.note else ""))
            out.setdefault(line, []).append(r.label)
    return list(out.items())


def _reasons(runs, block):
    """[(reason, [run labels])]: why a block has no peaks, each reason said once."""
    out = {}
    for r in runs:
        part = getattr(r.summary, block)
        why = part.unavailable if part is not None else None
        if why:
            out.setdefault(why, []).append(r.label)
    return list(out.items())
