"""Synthetic traces and their summaries (with hand-set numbers) for the report tests; reading the report's HTML."""

import re
from pathlib import Path

from profkit.report.runs import Run
from tests.helpers.traces import ev, write_kineto


def write_trace(path, kernels, steps=2, gap_us=20.0, launch_lag_us=5.0):
    """A small Kineto-style GPU trace: `kernels` [(name, dur_us)] repeated per step.

    Each kernel is launched by a cudaLaunchKernel `launch_lag_us` after the
    previous kernel ends, so every gap between kernels is host-bound.
    """
    events = [{"ph": "M", "name": "process_name", "pid": 100, "tid": 0, "args": {"name": "python"}}]
    t, corr = 1000.0, 1
    for step in range(steps):
        start = t
        for name, dur in kernels:
            events.append(ev("cuda_runtime", "cudaLaunchKernel", t - launch_lag_us, 3.0, pid=100, tid=100,
                             correlation=corr))
            events.append(ev("kernel", name, t, dur, pid=0, tid=7, device=0, stream=7, correlation=corr))
            t += dur + gap_us
            corr += 1
        events.append(ev("user_annotation", f"ProfilerStep#{step}", start - 10.0, t - start, pid=100, tid=100))
    return write_kineto(path, events, [{"id": 0, "name": "Test GPU"}])


def fixture_analysis(path, kernels, mode="eager", idle_pct=40.0, start=1000.0, span=1000.0):
    """The Analysis of the trace at `path`, its summary with hand-chosen numbers where the tests need
    them: mode, busy/idle, a 4-bin timeline over [start, start + span) and one 250 µs host-bound gap."""
    from profkit.analysis.advice.findings import findings
    from profkit.analysis.analyze import analyze
    from profkit.analysis.result import Gap, Mode, Temporal, TimelineBin, Window
    from profkit.trace import load

    analysis = analyze(load(path))
    s = analysis.summary
    s.mode = Mode(name=mode, evidence=[f"evidence for {mode}"])
    s.window_us = Window(start=start, end=start + span, span=span, kind="gpu")
    s.temporal = Temporal(busy_us=span * (1 - idle_pct / 100), idle_us=span * idle_pct / 100,
                          busy_pct=100 - idle_pct, idle_pct=idle_pct, compute_us=0.0, non_compute_us=0.0)
    s.timeline = [TimelineBin(start_us=start + i * span / 4, end_us=start + (i + 1) * span / 4, busy_pct=25.0 * i)
                  for i in range(4)]
    s.gaps.largest = [Gap(device=0, start_us=start + 100.0, dur_us=250.0, cause="host_bound",
                          before=kernels[0][0], after=kernels[-1][0])]
    s.findings = findings(analysis.tables, s)
    return analysis


def fixture_run(tmp_path, name, kernels, mode="eager", **kw):
    path = write_trace(Path(tmp_path) / f"{name}.json.gz", kernels)
    return Run(path=path, analysis=fixture_analysis(path, kernels, mode, **kw), label=name)


def headline(html, metric):
    """The cells of one row of the headline table."""
    row = re.search(r"<tr><th scope=\"row\">" + re.escape(metric) + r"</th>(.*?)<td class=\"note\">", html, re.S)
    return re.findall(r"<td>(.*?)</td>", row.group(1))
