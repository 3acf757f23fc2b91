"""Terminal rendering of an analysis summary (rich tables)."""

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from profkit.analysis.result import BLOCKER_LABELS
from profkit.report import fmt
from profkit.report.metrics import classes_above_wall
from profkit.report.names import short_name


def _table(title, *columns, name_width=60, compact=False):
    """A table of `columns` ("name" cut with an ellipsis at name_width); `compact`: no vertical rules,
    for tables of many numeric columns that must read whole in 80 columns."""
    t = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
              pad_edge=not compact, collapse_padding=compact)
    for c in columns:
        if c == "name":
            t.add_column(c, no_wrap=True, overflow="ellipsis", max_width=name_width)
        else:
            t.add_column(c, justify="left" if c in ("", "class", "cause") else "right", no_wrap=True)
    return t


def _warnings_console(given, con):
    """Where warnings go: stderr (so `profkit analyze T > out.txt` keeps the analysis alone), unless
    the caller gave its own console (a test, a report), which then gets everything."""
    return con if given is not None else Console(stderr=True)


def render(summary, console=None, top=10):
    """One trace's Summary as terminal tables."""
    con = console or Console()
    dev, mode = summary.device, summary.mode
    con.print(f"[bold]{escape(summary.trace)}[/bold]")
    con.print(f"device: {dev.kind} {escape(dev.name or '')}  ·  mode: [bold]{mode.name}[/bold]"
              f" ({escape('; '.join(mode.evidence)) or 'no evidence'})")
    w, t = summary.window_us, summary.temporal
    gpu = dev.kind != "cpu" and dev.kernels_recorded is not False
    what = "GPU" if gpu else "CPU ops"
    if dev.kernels_recorded is False:
        con.print("[yellow]the trace records a GPU run but no kernel events: only its CPU ops are analysed "
                  "(no GPU busy time, kernels or TFLOP/s)[/yellow]")
    con.print(f"window ({w.kind}): {fmt.duration(w.span)}  ·  {what} busy {t.busy_pct:.1f}%  "
              f"idle {t.idle_pct:.1f}% ({fmt.duration(t.idle_us)})")
    if summary.cpu is not None:
        con.print(f"framework overhead (time outside the classified ops' own work): "
                  f"{summary.cpu.framework_overhead_pct:.1f}%")
    _noise(con, summary.capture)
    _findings(con, summary.findings, summary.window_us.start)
    _largest_gaps(con, summary, gpu)

    tab = _table("Time by class (% of the kernel time in the analysis window; CPU traces: of the ops' self time)",
                 "class", "time", "%", "count")
    for name, c in summary.classes.items():
        tab.add_row(name, fmt.duration(c.time_us), f"{c.pct:.1f}", str(c.count))
    con.print(tab)
    above = classes_above_wall(summary, summary.window_us.span)
    if above:
        con.print(f"note: over the analysis window, {escape(above)}")

    g = summary.gaps
    tab = _table(f"Idle gaps: {g.count} totalling {fmt.duration(g.total_us)} "
                 f"(p50 {fmt.duration(g.p50_us)}, p99 {fmt.duration(g.p99_us)}, max {fmt.duration(g.max_us)})",
                 "cause", "count", "total")
    for cause, c in g.by_cause.items():
        tab.add_row(cause, str(c.count), fmt.duration(c.total_us))
    con.print(tab)

    tab = _table(f"Top {min(top, len(summary.kernels))} {'kernels' if gpu else 'ops'}",
                 "time", "%", "count", "class", "name", name_width=max(20, con.width - 52))
    for k in summary.kernels[:top]:
        tab.add_row(fmt.duration(k.time_us), f"{k.pct:.1f}", str(k.count), k.cls, escape(short_name(k.name)))
    con.print(tab)
    _coverage(con, summary.coverage, top)
    _communication(con, summary.communication)

    _efficiency(con, summary.efficiency)
    _roofline(con, summary.roofline)

    cg = summary.cuda_graphs
    if cg.launches:
        con.print(f"CUDA graphs: {cg.launches} launches replaying {cg.kernels} GPU activities")
    _whatif(con, summary.whatif)
    if summary.phases:
        tab = _table("Phases (profkit capture)", "", "count", "wall", "work")
        for name, p in summary.phases.items():
            tab.add_row(name, str(p.count), fmt.duration(p.wall_us), fmt.duration(p.work_us))
        con.print(tab)
    warn = _warnings_console(console, con)
    for warning in summary.warnings:
        warn.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def _whatif(con, w):
    """The what-if prediction: CUDA graphs for GPU traces, compilation for CPU ones."""
    us = fmt.duration
    cg = w.cudagraph if w else None
    if cg:
        v = cg.validation
        check = (f"measured {us(v.measured_us)} in {escape(v.trace)}: {v.error_pct:+.1f}%"
                 if v else "unvalidated: no CUDA-graph run given (--whatif-against)")
        con.print(f"[bold]what if CUDA graphs[/bold] (one graph per {'step' if cg.basis == 'steps' else 'trace'}):"
                  f" step {us(cg.measured_step_us)} -> {us(cg.step_us)} predicted, "
                  f"speed-up x{cg.speedup:.2f} (x{cg.low:.2f}-x{cg.high:.2f}); {check}")
        con.print(f"  per step: work {us(cg.work_us)} + kept gaps {us(cg.kept_gap_us)} + graph launches "
                  f"{us(cg.launch_gpu_us)}; removes {us(cg.removed_gap_us)} of host-bound gaps and "
                  f"{cg.launches_replaced} launch calls ({us(cg.launch_cpu_us)} of CPU)")
        for b in cg.blockers:
            ops = ", ".join(f"{escape(o)} x{n}" for o, n in b.ops)
            con.print(f"  [yellow]blocker[/yellow] {escape(BLOCKER_LABELS[b.kind])}: {escape(b.what)} "
                      f"x{b.count} in {b.steps} step(s), from {ops}")
        for a in cg.assumptions:
            con.print(f"  assumes: {escape(a)}")
    comp = w.compiled if w else None
    if comp:
        line = (f"[bold]what if compiled[/bold]: framework overhead {comp.overhead_pct:.1f}% of the CPU window "
                f"({us(comp.overhead_us)}) is the part compilation removes: window {us(comp.window_us)} -> "
                f"{us(comp.step_us)} without it (x{comp.speedup:.2f}; fused ops can gain more)")
        if comp.compiled_window_us is not None:
            line += f"; the compiled run measured {us(comp.compiled_window_us)} (x{comp.measured_speedup:.2f})"
        con.print(line)
    if w and w.unavailable:
        con.print(f"[bold]what if[/bold]: no prediction: {escape(w.unavailable)}")


MARK = {"warn": "[yellow]![/yellow]", "info": "[cyan]i[/cyan]", "good": "[green]✓[/green]"}


def _noise(con, capture):
    """The capture's timing noise (profkit sidecars): the verdict, and why when noisy."""
    n = capture.timing.noise if capture and capture.timing else None
    if n is None or n.verdict is None:
        return
    cv = "–" if n.cv_pct is None else f"{n.cv_pct:.1f}%"
    runs = f"runs {n.min_ms:,.1f}–{n.max_ms:,.1f} ms, " if n.min_ms is not None and n.max_ms is not None else ""
    if n.verdict == "noisy":
        con.print(f"[yellow]timing noisy[/yellow]: {escape('; '.join(n.reasons))} "
                  f"({runs}CV {cv}): shares and times may be inflated; "
                  "rerun on an idle machine or with more --steps")
    else:
        con.print(f"timing quiet: {runs}CV {cv}")


def _evidence(numbers, limit=5):
    """'idle 65.6% · host-bound gaps 154 · host bound 10.80 ms': the first numbers of a finding."""
    return " · ".join(" ".join(fmt.evidence(k, v)) for k, v in list(numbers.items())[:limit] if v is not None)


def _item(i, start):
    """One evidence item; gap times from the start of the window (`start`, trace µs)."""
    where = f" at {fmt.duration(i.start_us - start)}" if i.start_us is not None and i.kind == "gap" else ""
    count = f" ×{i.count}" if i.count else ""
    name = short_name(i.name) if i.kind == "kernel" else i.name
    detail = f" ({i.detail})" if i.detail and i.kind == "op" else ""
    return f"{i.kind} {name}{count}: {fmt.duration(i.time_us)}{where}{detail}"


def _findings(con, found, start=0.0):
    """Each finding: its rule, the sentence, what to try, and the evidence it rests on."""
    if not found:
        con.print("[bold]Findings[/bold]: none (no rule fired; thresholds in docs/findings.md)")
        return
    con.print("[bold]Findings[/bold]")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(overflow="fold")
    for f in found:
        grid.add_row(MARK.get(f.severity, " "), f"[bold]{f.rule}[/bold]: {escape(f.text)}")
        grid.add_row("", f"[green]try[/green]: {escape(f.action)}")
        grid.add_row("", f"[dim]evidence: {escape(_evidence(f.evidence.numbers))}[/dim]")
        for i in f.evidence.items[:2]:
            grid.add_row("", f"[dim]  {escape(_item(i, start))}[/dim]")
    con.print(grid)


def _largest_gaps(con, summary, gpu, n=5):
    """The largest idle gaps with their cause and the work on each side."""
    gaps = summary.gaps.largest[:n]
    if not gaps:
        return
    side = "kernel" if gpu else "op"
    names = max(16, (con.width - 44) // 2)  # at, length, cause, borders and padding take 44 columns
    tab = _table(f"Largest idle gaps (of {summary.gaps.count})", "at", "length", "cause")
    for title in (f"{side} before", f"{side} after"):
        tab.add_column(title, no_wrap=True, overflow="ellipsis", max_width=names)
    start = summary.window_us.start
    for g in gaps:
        tab.add_row(fmt.duration(g.start_us - start), fmt.duration(g.dur_us), g.cause.replace("_", "-"),
                    escape(short_name(g.before or "—")), escape(short_name(g.after or "—")))
    con.print(tab)


def _coverage(con, cov, top):
    """Which layer classified the GPU time, and the kernel names none could."""
    if cov is None:
        return
    shares = ", ".join(f"{layer} {c.pct:.1f}%" for layer, c in cov.classified_by.items() if c.count)
    con.print(f"classified by: {shares}")
    if cov.unclassified:
        tab = _table("Unclassified kernels (no rule, name word or launching op; add a --rules FILE rule)",
                     "time", "%", "count", "name", name_width=max(20, con.width - 36))
        for k in cov.unclassified[:top]:
            tab.add_row(fmt.duration(k.time_us), f"{k.pct:.1f}", str(k.count), escape(short_name(k.name)))
        con.print(tab)


def _communication(con, comm):
    if comm is None or not comm.time_us:
        return
    con.print(f"communication: {fmt.duration(comm.time_us)}, exposed {fmt.duration(comm.exposed_us)} "
              f"(overlapped by computation {comm.overlap_pct:.1f}%)")
    if comm.collectives:
        tab = _table("Collectives (PyTorch's collective metadata; bandwidths in GB/s)", "collective", "dtype",
                     "ranks", "count", "bytes", "time", "algbw", "busbw", compact=True)
        for c in comm.collectives:
            tab.add_row(escape(c.name), escape(str(c.dtype)), fmt.plain(c.group_size, "d"), str(c.count),
                        fmt.size(c.bytes), fmt.duration(c.time_us), fmt.plain(c.algbw_gbs, ".2f"),
                        fmt.plain(c.busbw_gbs, ".2f"))
        con.print(tab)
    if comm.reason:
        con.print(f"[yellow]collectives:[/yellow] {escape(comm.reason)}")


def render_rules(table, console=None):
    """`profkit rules`: every rule in the order it is tried."""
    con = console or Console()
    tab = Table(title="Classification rules, in the order they are tried (first match wins)",
                title_justify="left", title_style="bold", show_lines=True)
    for c in ("layer", "target", "class"):
        tab.add_column(c, no_wrap=True)
    tab.add_column("pattern", overflow="fold", ratio=1)
    tab.add_column("why", overflow="fold", ratio=1)
    for r in table:
        tab.add_row(r["layer"], r["target"], r["class"] or "(ask next layer)", escape(r["pattern"]),
                    escape(r["why"]))
    con.print(tab)
    con.print("Kernels: user rules, built-in rules, then the words of the name (token); a kernel still "
              "open takes the class of the CPU op that launched it (op rules, then its words); else other.")


def _efficiency(con, eff):
    dev = eff.device
    title = f"Efficiency vs {dev.name}" if dev else "Efficiency (no device peaks)"
    tab = _table(title + " (% time: of the GPU time of every op call in the cost table, whole trace; "
                 "not the window's share above)", "class", "% FLOPs", "% time", "TFLOP/s", "GB/s", "MUE %",
                 "uncounted")
    for name, c in eff.classes.items():
        missed = c.time_us - c.counted.time_us
        tab.add_row(name, fmt.plain(c.pct_flops, ".2f"), fmt.plain(c.pct_time, ".1f"), fmt.plain(c.tflops, ".3f"),
                    fmt.plain(c.gbps, ".1f"), fmt.plain(c.mue_pct, ".1f"), fmt.duration(missed) if missed > 0 else "")
    con.print(tab)
    if eff.unavailable:
        con.print(f"[yellow]no MUE:[/yellow] {escape(eff.unavailable)}")


def _roofline(con, roof):
    if roof is None:
        return
    tab = _table("Roofline limit of this capture", "", "limit", "measured", "% of limit", "bound")
    phases = (("prefill (TTFT)", "prefill", roof.prefill), ("decode / token", "decode_step", roof.decode_step))
    for name, _, p in phases:
        tab.add_row(name, fmt.plain(p.limit_ms, ".3f") + " ms", fmt.plain(p.measured_ms, ".3f") + " ms",
                    fmt.plain(p.pct_of_limit, ".0f"), p.bound or "–")
    con.print(tab)
    for _, key, p in phases:
        if p.warning:
            con.print(f"[yellow]roofline ({key}):[/yellow] {p.warning}")
    dev = roof.device
    if dev:
        con.print(f"peaks: {escape(dev.name)}, {fmt.plain(dev.bandwidth_gbs, '.1f')} GB/s, "
                  f"{fmt.plain(dev.peak_tflops, '.3g')} TFLOP/s ({escape(dev.source or 'no source')})",
                  highlight=False)
        if dev.note:
            con.print(f"[yellow]peaks:[/yellow] {escape(dev.note)}")
    if roof.unavailable:
        con.print(f"[yellow]no roofline:[/yellow] {escape(roof.unavailable)}")


def render_annotations(table, console=None):
    """The per-annotation breakdown (analysis.analyze.annotation_table) as one table."""
    con = console or Console()
    if not len(table):
        con.print("no user annotations (record_function, NVTX, gpu_user_annotation) match")
        return
    tab = _table("User annotations (cpu: kernels launched while the range was open; gpu: kernels that ran "
                 "inside it)", "name", "side", "ranges", "CPU time", "kernels", "GPU time", name_width=26)
    for r in table.itertuples():
        tab.add_row(escape(short_name(r.name)), r.side, str(r.ranges),
                    fmt.duration(r.cpu_us) if r.side == "cpu" else "–", str(r.kernels), fmt.duration(r.gpu_us))
    con.print(tab)


def render_job(job, console=None):
    """One row per rank, then the clock alignment and the stragglers."""
    con = console or Console()
    con.print(f"[bold]{escape(job.folder)}[/bold]: {len(job.ranks)} ranks (world size {job.world_size})")
    # Two tables of six columns, not one of eleven: each reads whole in an 80-column terminal.
    time = _table("Ranks: time", "rank", "window", "busy %", "idle %", "compute", "mode")
    comm_tab = _table("Ranks: communication and idle gaps", "rank", "comm", "exposed", "overlap %", "gaps",
                      "host-bound")
    for s in job.ranks:
        t, g, comm = s.temporal, s.gaps, s.communication
        time.add_row(str(s.rank), fmt.duration(s.window_us.span), f"{t.busy_pct:.1f}", f"{t.idle_pct:.1f}",
                     fmt.duration(t.compute_us), s.mode.name)
        comm_tab.add_row(str(s.rank), fmt.duration(s.classes["communication"].time_us),
                         fmt.duration(comm.exposed_us) if comm else "–", fmt.plain(comm and comm.overlap_pct, ".1f"),
                         fmt.duration(g.total_us), fmt.duration(g.by_cause["host_bound"].total_us))
    con.print(time)
    con.print(comm_tab)
    a = job.alignment
    con.print(f"clock alignment: {a.method}; largest offset between ranks {fmt.duration(a.max_skew_us)}")
    found = job.stragglers.ranks
    if not found:
        con.print("stragglers: none by the rules " + "; ".join(job.stragglers.rules.values()))
    for r in found:
        con.print(f"[bold]straggler[/bold] rank {r.rank} ({r.rule}): {escape(r.why)}")
    for s in job.ranks:
        con.print(f"[bold]rank {s.rank}[/bold]")
        _findings(con, s.findings, s.window_us.start)
    warn = _warnings_console(console, con)
    for s in job.ranks:
        for w in s.warnings:
            warn.print(f"[yellow]warning:[/yellow] rank {s.rank}: {escape(w)}")
