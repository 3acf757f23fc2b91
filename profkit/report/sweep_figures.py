"""Plotly figures of a sweep (plain dicts): side-by-side panels, one line per series.

A series is what the legend names: model (and kv-groups) and mode for GPT-2
sweeps, matrix size and mode for SDPA. Panels split the grid along the axis
that is not on the x axis (one panel per prompt length, per batch, ...).
"""

import math

from profkit.report.figures import RUN_COLORS, text

_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
_DASHES = ("solid", "dot", "dash", "dashdot")


def _values(series):
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in series]


def panels(groups, x, lines, xtitle, ytitle, log_x=True, log_y=False):
    """`groups`: [(panel title, DataFrame)]; `lines`: [(column, suffix)] drawn per series
    (solid, dotted, ...). Each series keeps one colour across panels and one legend entry."""
    n = max(len(groups), 1)
    gap = 0.05 if n > 1 else 0.0
    width = (1 - gap * (n - 1)) / n
    layout = {"font": _FONT, "paper_bgcolor": "white", "plot_bgcolor": "white", "height": 380,
              "margin": {"l": 64, "r": 20, "t": 70, "b": 50}, "annotations": [],
              "legend": {"orientation": "h", "y": 1.12, "yanchor": "bottom", "x": 0}}
    data, colors, shown = [], {}, set()
    for i, (title, frame) in enumerate(groups):
        ax = "" if i == 0 else str(i + 1)
        ticks = sorted({float(v) for v in frame[x].dropna()})
        layout[f"xaxis{ax}"] = {"domain": [i * (width + gap), i * (width + gap) + width], "anchor": f"y{ax}",
                                "type": "log" if log_x else "linear", "title": {"text": text(xtitle)},
                                "tickvals": ticks, "gridcolor": "#eee"}
        layout[f"yaxis{ax}"] = {"anchor": f"x{ax}", "type": "log" if log_y else "linear", "gridcolor": "#eee",
                                "title": {"text": text(ytitle) if i == 0 else ""},
                                **({} if log_y else {"rangemode": "tozero"})}
        if len(groups) > 1:
            layout["annotations"].append({"text": f"<b>{text(title)}</b>", "showarrow": False, "x": 0.5, "y": 1.0,
                                          "xref": f"x{ax} domain", "yref": f"y{ax} domain", "yanchor": "bottom"})
        for name, rows in frame.groupby("series", sort=False):
            rows = rows.sort_values(x)
            color = colors.setdefault(name, RUN_COLORS[len(colors) % len(RUN_COLORS)])
            for (column, suffix), dash in zip(lines, _DASHES):
                label = f"{name}{suffix}"
                ys = _values(rows[column])
                if not any(v is not None for v in ys):
                    continue
                data.append({"type": "scatter", "mode": "lines+markers", "name": text(label),
                             "legendgroup": text(label), "showlegend": label not in shown,
                             "x": _values(rows[x]), "y": ys, "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                             "line": {"color": color, "dash": dash}, "marker": {"color": color, "size": 6},
                             "connectgaps": False,
                             "hovertemplate": f"%{{fullData.name}}<br>{xtitle} %{{x}}: %{{y:.4g}}<extra></extra>"})
                shown.add(label)
    return {"data": data, "layout": layout}


def by(frame, column, fmt):
    """Split a frame into panels by `column`'s values, titled with `fmt`."""
    return [(fmt(v), g) for v, g in frame.groupby(column, sort=True)]
