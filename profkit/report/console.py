"""Terminal rendering of an analysis summary (rich tables)."""

import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# The part of a templated kernel name that tells elementwise kernels apart.
_HINT = re.compile(r"(\w+(?:Functor|_kernel_cuda|_kernel_impl|Op)\w*)")


def short_name(name):
    """'void at::native::elementwise_kernel<4, ...MulFunctor<float>...>(...)' ->
    'at::native::elementwise_kernel [MulFunctor]' — readable in a terminal column."""
    text = (name[5:] if name.startswith("void ") else name).replace("(anonymous namespace)::", "")
    cut = min([i for i in (text.find("<"), text.find("(")) if i > 0], default=len(text))
    base = text[:cut]
    hints = [h for h in _HINT.findall(text[cut:]) if h != base.rsplit("::", 1)[-1]]
    return f"{base} [{hints[-1]}]" if hints else base


def _us(v):
    """Microseconds, in the unit a person reads best."""
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e3:
        return f"{v / 1e3:.2f} ms"
    return f"{v:.1f} µs"


def _table(title, *columns, name_width=60):
    t = Table(title=title, title_justify="left", title_style="bold")
    for c in columns:
        if c == "name":
            t.add_column(c, no_wrap=True, overflow="ellipsis", max_width=name_width)
        else:
            t.add_column(c, justify="left" if c in ("", "class", "cause") else "right", no_wrap=True)
    return t


def render(summary, console=None, top=10):
    con = console or Console()
    dev = summary["device"]
    mode = summary["mode"]
    con.print(f"[bold]{escape(summary['trace'])}[/bold]")
    con.print(f"device: {dev['kind']} {escape(str(dev['name'] or ''))}  ·  mode: [bold]{mode['name']}[/bold]"
              f" ({escape('; '.join(mode['evidence'])) or 'no evidence'})")
    w, t = summary["window_us"], summary["temporal"]
    gpu = dev["kind"] != "cpu"
    what = "GPU" if gpu else "CPU ops"
    con.print(f"window ({w['kind']}): {_us(w['span'])}  ·  {what} busy {t['busy_pct']:.1f}%  "
              f"idle {t['idle_pct']:.1f}% ({_us(t['idle_us'])})")
    if summary.get("cpu"):
        con.print(f"framework overhead (time outside the classified ops' own work): "
                  f"{summary['cpu']['framework_overhead_pct']:.1f}%")

    tab = _table("Time by class", "class", "time", "%", "count")
    for name, c in summary["classes"].items():
        tab.add_row(name, _us(c["time_us"]), f"{c['pct']:.1f}", str(c["count"]))
    con.print(tab)

    g = summary["gaps"]
    tab = _table(f"Idle gaps: {g['count']} totalling {_us(g['total_us'])} "
                 f"(p50 {_us(g['p50_us'])}, p99 {_us(g['p99_us'])}, max {_us(g['max_us'])})",
                 "cause", "count", "total")
    for cause, c in g["by_cause"].items():
        tab.add_row(cause, str(c["count"]), _us(c["total_us"]))
    con.print(tab)

    tab = _table(f"Top {min(top, len(summary['kernels']))} {'kernels' if gpu else 'ops'}",
                 "time", "%", "count", "class", "name", name_width=max(20, con.width - 52))
    for k in summary["kernels"][:top]:
        tab.add_row(_us(k["time_us"]), f"{k['pct']:.1f}", str(k["count"]), k["class"], escape(short_name(k["name"])))
    con.print(tab)

    _efficiency(con, summary.get("efficiency"))
    _roofline(con, summary.get("roofline"))

    cg = summary["cuda_graphs"]
    if cg and cg.get("launches"):
        con.print(f"CUDA graphs: {cg['launches']} launches replaying {cg['kernels']} GPU activities")
    if summary.get("phases"):
        tab = _table("Phases (profkit capture)", "", "count", "wall", "work")
        for name, p in summary["phases"].items():
            tab.add_row(name, str(p["count"]), _us(p["wall_us"]), _us(p["work_us"]))
        con.print(tab)
    for warning in summary["warnings"]:
        con.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def _num(v, fmt):
    return "–" if v is None else format(v, fmt)


def _efficiency(con, eff):
    if not eff:
        return
    dev = eff.get("device")
    title = f"Efficiency vs {dev['name']}" if dev else "Efficiency (no device peaks)"
    tab = _table(title, "class", "% FLOPs", "% time", "TFLOP/s", "GB/s", "MUE %", "uncounted")
    for name, c in eff["classes"].items():
        missed = c["time_us"] - c["counted"]["time_us"]
        tab.add_row(name, _num(c["pct_flops"], ".2f"), _num(c["pct_time"], ".1f"), _num(c["tflops"], ".3f"),
                    _num(c["gbps"], ".1f"), _num(c["mue_pct"], ".1f"), _us(missed) if missed > 0 else "")
    con.print(tab)
    if eff.get("unavailable"):
        con.print(f"[yellow]no MUE:[/yellow] {escape(eff['unavailable'])}")


def _roofline(con, roof):
    if not roof:
        return
    tab = _table("Roofline limit of this capture", "", "limit", "measured", "% of limit", "bound")
    for name, key in (("prefill (TTFT)", "prefill"), ("decode / token", "decode_step")):
        p = roof[key]
        tab.add_row(name, _num(p.get("limit_ms"), ".3f") + " ms", _num(p.get("measured_ms"), ".3f") + " ms",
                    _num(p.get("pct_of_limit"), ".0f"), p.get("bound") or "–")
    con.print(tab)
    for key in ("prefill", "decode_step"):
        if roof[key].get("warning"):
            con.print(f"[yellow]roofline ({key}):[/yellow] {roof[key]['warning']}")
    dev = roof.get("device")
    if dev:
        con.print(f"peaks: {escape(dev['name'])}, {_num(dev['bandwidth_gbs'], '.1f')} GB/s, "
                  f"{_num(dev.get('peak_tflops'), '.3g')} TFLOP/s ({escape(dev.get('source') or 'no source')})",
                  highlight=False)
        if dev.get("note"):
            con.print(f"[yellow]peaks:[/yellow] {escape(dev['note'])}")
    if roof.get("unavailable"):
        con.print(f"[yellow]no roofline:[/yellow] {escape(roof['unavailable'])}")


def render_job(job, console=None):
    """One row per rank, then the clock alignment and the stragglers."""
    con = console or Console()
    con.print(f"[bold]{escape(job['folder'])}[/bold]: {len(job['ranks'])} ranks (world size {job['world_size']})")
    tab = _table("Ranks", "rank", "window", "busy %", "idle %", "compute", "communication", "gaps",
                 "host-bound gaps", "mode")
    for s in job["ranks"]:
        t, g = s["temporal"], s["gaps"]
        tab.add_row(str(s["rank"]), _us(s["window_us"]["span"]), f"{t['busy_pct']:.1f}", f"{t['idle_pct']:.1f}",
                    _us(t["compute_us"]), _us(s["classes"]["communication"]["time_us"]), _us(g["total_us"]),
                    _us(g["by_cause"]["host_bound"]["total_us"]), s["mode"]["name"])
    con.print(tab)
    a = job["alignment"]
    con.print(f"clock alignment: {a['method']}; largest offset between ranks {_us(a['max_skew_us'])}")
    found = job["stragglers"]["ranks"]
    if not found:
        con.print("stragglers: none by the rules " + "; ".join(job["stragglers"]["rules"].values()))
    for r in found:
        con.print(f"[bold]straggler[/bold] rank {r['rank']} ({r['rule']}): {escape(r['why'])}")
    for s in job["ranks"]:
        for w in s["warnings"]:
            con.print(f"[yellow]warning:[/yellow] rank {s['rank']}: {escape(w)}")
