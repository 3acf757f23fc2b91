"""FLOPs % vs runtime % per class, MUE per class and roofline position, when measured.

These numbers exist only for traces recorded with shapes (and, for the
roofline, profkit captures with a sidecar); otherwise the page says so.
"""

from profkit.report import figures as F


def _classes(run):
    eff = run.summary.get("efficiency") or {}
    return eff.get("classes") or {}


def _flops_share(run):
    cls = _classes(run)
    total = sum((v or {}).get("flops") or 0 for v in cls.values())
    return {c: 100.0 * ((v or {}).get("flops") or 0) / total for c, v in cls.items()} if total else {}


def _bert_reference():
    try:
        from profkit.analysis.efficiency import BERT_REFERENCE
    except ImportError:
        return None
    return BERT_REFERENCE


def _share_figure(runs, shares):
    data = []
    for i, (r, fl) in enumerate(zip(runs, shares)):
        if not fl:
            continue
        cls = [c for c in F.CLASSES if c in fl]
        rt = [((r.summary.get("classes") or {}).get(c) or {}).get("pct", 0.0) for c in cls]
        color = F.RUN_COLORS[i % len(F.RUN_COLORS)]
        data.append({"type": "bar", "name": F.text(f"{r.label}: % of FLOPs"), "x": [F.class_label(c) for c in cls],
                     "y": [fl[c] for c in cls], "marker": {"color": color}})
        data.append({"type": "bar", "name": F.text(f"{r.label}: % of runtime"), "x": [F.class_label(c) for c in cls],
                     "y": rt, "marker": {"color": color, "pattern": {"shape": "/"}, "opacity": 0.6}})
    return {"data": data, "layout": F._layout(barmode="group", height=340,
                                              yaxis={"title": {"text": "%"}, "gridcolor": "#eee"})}


def _mue_figure(runs):
    data = []
    for i, r in enumerate(runs):
        cls = {c: v for c, v in _classes(r).items() if (v or {}).get("mue_pct") is not None}
        if not cls:
            continue
        order = [c for c in F.CLASSES if c in cls]
        data.append({"type": "bar", "name": F.text(r.label), "x": [F.class_label(c) for c in order],
                     "y": [cls[c]["mue_pct"] for c in order], "marker": {"color": F.RUN_COLORS[i % 8]}})
    return {"data": data, "layout": F._layout(barmode="group", height=320,
                                              yaxis={"title": {"text": "MUE %"}, "gridcolor": "#eee"})}


def efficiency_view(runs):
    """Tables and figures for the efficiency section, and which runs lack the data."""
    shares = [_flops_share(r) for r in runs]
    figures, missing = {}, [r.label for r, s in zip(runs, shares) if not s]
    if any(shares):
        figures["flops"] = _share_figure(runs, shares)
    mue = _mue_figure(runs)
    if mue["data"]:
        figures["mue"] = mue
    roofline = [(r.label, r.summary.get("roofline")) for r in runs if r.summary.get("roofline")]
    table = []
    for c in F.CLASSES:
        row = {"class": c, "runs": []}
        for r, s in zip(runs, shares):
            v = _classes(r).get(c) or {}
            row["runs"].append({"flops_pct": s.get(c), "time_pct": ((r.summary.get("classes") or {}).get(c) or {})
                                .get("pct"), "mue_pct": v.get("mue_pct")} if s else None)
        table.append(row)
    return {"available": any(shares), "missing": missing, "table": table, "bert": _bert_reference(),
            "roofline": roofline, "figures": figures}
