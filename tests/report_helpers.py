"""Synthetic traces and schema-shaped summaries for the report tests."""

import gzip
from pathlib import Path

import orjson

from profkit.report.runs import Run

CLASSES = ["tensor_contraction", "normalization", "elementwise", "attention", "memory", "communication", "other"]


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
            events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 100,
                           "ts": t - launch_lag_us, "dur": 3.0, "args": {"correlation": corr}})
            events.append({"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": 7, "ts": t, "dur": dur,
                           "args": {"device": 0, "stream": 7, "correlation": corr}})
            t += dur + gap_us
            corr += 1
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "pid": 100,
                       "tid": 100, "ts": start - 10.0, "dur": t - start})
    doc = {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "Test GPU"}], "traceEvents": events}
    Path(path).write_bytes(gzip.compress(orjson.dumps(doc), mtime=0))
    return path


def fixture_summary(path, kernels, mode="eager", idle_pct=40.0, start=1000.0, span=1000.0):
    """A summary dict shaped like schema_version 1, with hand-chosen numbers."""
    total = sum(d for _, d in kernels) or 1.0
    classes = {c: {"time_us": 0.0, "pct": 0.0, "count": 0} for c in CLASSES}
    classes["tensor_contraction"] = {"time_us": total, "pct": 100.0, "count": len(kernels)}
    gap = {"start_us": start + 100.0, "dur_us": 250.0, "cause": "host_bound",
           "before": kernels[0][0], "after": kernels[-1][0]}
    return {
        "schema_version": 1, "trace": str(path),
        "device": {"kind": "cuda", "name": "Test GPU", "count": 1},
        "mode": {"name": mode, "evidence": [f"evidence for {mode}"]},
        "window_us": {"start": start, "end": start + span, "span": span, "kind": "gpu"},
        "temporal": {"busy_us": span * (1 - idle_pct / 100), "idle_us": span * idle_pct / 100,
                     "busy_pct": 100 - idle_pct, "idle_pct": idle_pct, "compute_us": 0.0, "non_compute_us": 0.0},
        "gaps": {"count": 3, "total_us": 400.0, "p50_us": 20.0, "p99_us": 250.0, "max_us": 250.0,
                 "by_cause": {"host_bound": {"count": 3, "total_us": 400.0}, "sync": {"count": 0, "total_us": 0.0},
                              "other": {"count": 0, "total_us": 0.0}},
                 "histogram": [{"lo_us": 10, "hi_us": 20, "count": 2, "total_us": 150.0},
                               {"lo_us": 200, "hi_us": 500, "count": 1, "total_us": 250.0},
                               {"lo_us": 1e5, "hi_us": None, "count": 0, "total_us": 0.0}],
                 "largest": [gap]},
        "timeline": [{"start_us": start + i * span / 4, "end_us": start + (i + 1) * span / 4, "busy_pct": 25.0 * i}
                     for i in range(4)],
        "streams": [],
        "classes": classes,
        "kernels": [{"name": n, "class": "tensor_contraction", "count": 1, "time_us": d, "pct": 100 * d / total}
                    for n, d in kernels],
        "cuda_graphs": {"launches": 0, "kernels": 0, "kernels_per_launch": 0.0, "launch_cpu_us": 0.0},
        "launches": {"count": 2 * len(kernels), "cpu_us": 6.0 * len(kernels)},  # 2 steps, as write_trace
        "cpu": None, "phases": None, "efficiency": None, "roofline": None, "capture": None, "warnings": [],
    }


def fixture_run(tmp_path, name, kernels, mode="eager", **kw):
    from profkit.trace import load

    path = write_trace(Path(tmp_path) / f"{name}.json.gz", kernels)
    return Run(path=path, trace=load(path), summary=fixture_summary(path, kernels, mode, **kw), sidecar=None,
               label=name)
