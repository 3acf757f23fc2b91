"""`summarize(trace)`: everything `profkit analyze` reports, as one JSON-ready dict.

The schema is versioned (SCHEMA_VERSION) and documented in the README
("analyze --json schema"). GPU traces are described by their GPU activities;
CPU-only traces (profkit's CPU captures) by their leaf CPU ops.
"""

import numpy as np
import pandas as pd

from profkit.analysis import temporal
from profkit.analysis.classify import CLASSES, classify_cpu_ops, classify_gpu, cpu_breakdown, self_time
from profkit.analysis.efficiency import efficiency_summary
from profkit.analysis.graphs import cuda_graph_summary, detect_mode
from profkit.analysis.hardware import trace_device
from profkit.analysis.roofline import roofline
from profkit.errors import ProfkitError

SCHEMA_VERSION = 1
LAUNCH_CALLS = r"Launch|^cuMemcpy|^cudaMemcpy|^cudaMemset|^hipMemcpy|^hipMemset"
PHASES = ("prefill", "decode")
NON_COMPUTE = ("memory", "communication")


def summarize(trace, sidecar=None, window="gpu", top=50, peak_bw=None, peak_tflops=None, calibration=None,
              every_gap=False):
    """Analyse a loaded Trace. `sidecar`: the capture's .meta.json dict, if any.

    every_gap: also list every idle gap under gaps.all (not only the largest).

    peak_bw (GB/s) / peak_tflops (TFLOP/s) override the device's peaks;
    `calibration` is the path of a `profkit calibrate` file for CPU traces.
    """
    warnings = list(trace.warnings)
    classes = classify_gpu(trace) if trace.has_gpu else classify_cpu_ops(trace)
    peaks = {"peak_bw": peak_bw, "peak_tflops": peak_tflops, "calibration": calibration, "sidecar": sidecar}
    out = {
        "schema_version": SCHEMA_VERSION,
        "trace": str(trace.path),
        "device": _device(trace),
        "mode": detect_mode(trace),
        "capture": sidecar,
        "efficiency": efficiency_summary(trace, classes, **peaks),
        "roofline": _roofline(sidecar, trace, peaks, warnings),
    }
    if trace.has_gpu:
        out.update(_gpu_summary(trace, np.asarray(classes), window, top, warnings))
    else:
        if len(trace.runtime):
            warnings.append(f"{len(trace.runtime)} CUDA/HIP runtime calls but no GPU activity recorded "
                            "(kernels missing from the trace): only CPU ops are analysed")
        out.update(_cpu_summary(trace, classes, top, warnings))
    if every_gap:
        out["gaps"]["all"] = [{"device": int(r.device), "start_us": float(r.start_us), "dur_us": float(r.dur_us),
                               "cause": r.cause, "before": r.before, "after": r.after}
                              for r in all_gaps(trace, window).itertuples()]
    out["warnings"] = warnings
    return out


def _roofline(sidecar, trace, peaks, warnings):
    """The capture's analytical limit; a sidecar without a model config gets none, with a warning."""
    if not sidecar:
        return None
    try:
        return roofline(sidecar, *trace_device(trace, **peaks))
    except ProfkitError as e:
        warnings.append(f"no roofline: {e}")
        return None


def _device(trace):
    props = trace.device_properties
    name = props[0].get("name") if props and isinstance(props[0], dict) else None
    if not trace.has_gpu:
        kind = "cuda" if len(trace.runtime) else "cpu"
        return {"kind": kind, "name": name if name else None, "count": 0}
    hip = trace.runtime["name"].astype(str).str.startswith("hip").any()
    return {"kind": "rocm" if hip else "cuda", "name": name, "count": int(trace.gpu["device"].nunique())}


def _class_table(cls, dur, names, top):
    df = pd.DataFrame({"cls": pd.Categorical(cls, categories=CLASSES), "dur": dur, "name": names})
    total = float(df["dur"].sum()) or 1.0
    per = df.groupby("cls", observed=False)["dur"].agg(["sum", "count"])
    classes = {c: {"time_us": float(per.loc[c, "sum"]), "pct": float(100 * per.loc[c, "sum"] / total),
                   "count": int(per.loc[c, "count"])} for c in CLASSES}
    k = df.groupby("name", observed=True).agg(time_us=("dur", "sum"), n=("dur", "size"), cls=("cls", "first"))
    k = k.nlargest(top, "time_us")
    kernels = [{"name": str(n), "class": str(r.cls), "count": int(r.n), "time_us": float(r.time_us),
                "pct": float(100 * r.time_us / total)} for n, r in k.iterrows()]
    return classes, kernels


def _gpu_summary(trace, classes, window_kind, top, warnings):
    gpu = trace.gpu_launches()
    gpu["cls"] = classes
    lo, hi, mask = temporal.window(trace, gpu, window_kind)
    gpu = gpu[mask]
    if window_kind != "gpu" and not len(trace.steps):
        warnings.append(f"no ProfilerStep in the trace: window '{window_kind}' is the whole GPU range")
    unlaunched = int(gpu["launch_ts"].isna().sum())
    if unlaunched:
        warnings.append(f"{unlaunched} GPU activities have no matching launch call (cause of their gaps: other)")

    busy = compute = 0.0
    span_total = 0.0
    timeline = []
    for _, g in gpu.groupby("device", sort=True):
        starts, ends = temporal.union(g["ts"].to_numpy(), g["end"].to_numpy())
        busy += temporal.covered(starts, ends, lo, hi)
        c = g[~g["cls"].isin(NON_COMPUTE)]
        cs, ce = temporal.union(c["ts"].to_numpy(), c["end"].to_numpy())
        compute += temporal.covered(cs, ce, lo, hi)
        span_total += hi - lo
        if not timeline:
            timeline = temporal.timeline(starts, ends, lo, hi)
    gaps = _device_gaps(gpu, lo, hi, _syncs(trace))
    idle = span_total - busy
    rt = trace.runtime
    classes, kernels = _class_table(gpu["cls"], gpu["dur"].to_numpy(), gpu["name"].astype(str), top)
    launches = rt[rt["name"].astype(str).str.contains(LAUNCH_CALLS, regex=True)]
    return {
        "window_us": {"start": lo, "end": hi, "span": hi - lo, "kind": window_kind},
        "temporal": {"busy_us": busy, "idle_us": idle, "busy_pct": _pct(busy, span_total),
                     "idle_pct": _pct(idle, span_total), "compute_us": compute, "non_compute_us": busy - compute},
        "gaps": temporal.gap_summary(gaps),
        "timeline": timeline,
        "streams": temporal.stream_idle(gpu),
        "classes": classes,
        "kernels": kernels,
        "cuda_graphs": cuda_graph_summary(trace),
        "launches": {"count": int(len(launches)), "cpu_us": float(launches["dur"].sum())},
        "cpu": None,
        "phases": _phases(trace, gpu["launch_ts"], gpu["dur"], gpu["cls"]),
    }


def _syncs(trace):
    """(ts, end) of blocking host syncs and cuda_sync events."""
    rt = trace.runtime
    is_sync = rt["name"].astype(str).str.contains(temporal.SYNC_CALLS, regex=True).to_numpy()
    return (np.concatenate([rt["ts"].to_numpy()[is_sync], trace.syncs["ts"].to_numpy()]),
            np.concatenate([rt["end"].to_numpy()[is_sync], trace.syncs["end"].to_numpy()]))


def _device_gaps(gpu, lo, hi, syncs):
    """Gaps of each device's union of activity (devices do not cover for each other)."""
    frames = [temporal.gaps(g, lo, hi, syncs).assign(device=int(dev)) for dev, g in gpu.groupby("device", sort=True)]
    return pd.concat(frames, ignore_index=True) if frames else temporal.gaps(gpu, lo, hi, syncs).assign(device=-1)


def _cpu_window(trace, ops):
    steps = trace.steps
    if len(steps):
        return float(steps["ts"].min()), float(steps["end"].max())
    if len(ops):
        return float(ops["ts"].min()), float(ops["end"].max())
    return 0.0, 0.0


def _cpu_gaps(ops, lo, hi):
    """Holes between CPU ops: host time outside any profiled op (Python, the framework)."""
    empty = np.empty(0)
    return temporal.gaps(ops.assign(launch_ts=np.nan), lo, hi, (empty, empty)).assign(device=-1)


def all_gaps(trace, window="gpu"):
    """Every idle gap of the window, one row each (summarize reports their statistics)."""
    if trace.has_gpu:
        gpu = trace.gpu_launches()
        lo, hi, mask = temporal.window(trace, gpu, window)
        return _device_gaps(gpu[mask], lo, hi, _syncs(trace))
    ops = trace.cpu_ops
    return _cpu_gaps(ops, *_cpu_window(trace, ops))


def _cpu_summary(trace, classes, top, warnings):
    """CPU-only traces: classes by self time of the classified ops.

    Self time (an op's duration minus its children's) counts nested ops
    (aten::linear > aten::addmm > aten::copy_) once each for their own work, so
    class times plus framework overhead add up to the time the ops cover.
    """
    ops = trace.cpu_ops
    if not len(ops):
        warnings.append("the trace has neither GPU activity nor CPU operators: nothing to analyse")
    own = pd.Series(self_time(ops), index=ops.index)
    units = classes.notna().to_numpy()
    lo, hi = _cpu_window(trace, ops)
    span = hi - lo
    starts, ends = temporal.union(ops["ts"].to_numpy(), ops["end"].to_numpy())
    busy = temporal.covered(starts, ends, lo, hi)
    gap_rows = _cpu_gaps(ops, lo, hi)
    table, kernels = _class_table(classes[units], own[units].to_numpy(), ops.loc[units, "name"].astype(str), top)
    breakdown = cpu_breakdown(trace, classes)
    return {
        "window_us": {"start": lo, "end": hi, "span": span, "kind": "steps" if len(trace.steps) else "cpu"},
        "temporal": {"busy_us": busy, "idle_us": span - busy, "busy_pct": _pct(busy, span),
                     "idle_pct": _pct(span - busy, span), "compute_us": float(own[units].sum()),
                     "non_compute_us": busy - float(own[units].sum())},
        "gaps": temporal.gap_summary(gap_rows),
        "timeline": temporal.timeline(starts, ends, lo, hi) if len(starts) else [],
        "streams": [],
        "classes": table,
        "kernels": kernels,
        "cuda_graphs": cuda_graph_summary(trace),
        "launches": {"count": 0, "cpu_us": 0.0},
        "cpu": None if breakdown is None else {k: v for k, v in breakdown.items() if k != "classes"},
        "phases": _phases(trace, ops.loc[units, "ts"], own[units], classes[units]),
    }


def _phases(trace, when, dur, cls):
    """Per-phase totals for profkit captures ("prefill"/"decode" annotations).

    Work is attributed to a phase by when it was issued on the CPU (launch time
    of a kernel, start of a CPU op), so queued GPU work counts where it began.
    """
    ann = trace.annotations[~trace.annotations["on_gpu"]]
    ann = ann[ann["name"].isin(PHASES)]
    if not len(ann):
        return None
    when = np.asarray(when, dtype=float)
    dur = np.asarray(dur, dtype=float)
    cls = np.asarray(cls, dtype=object)
    phases = {}
    for name in PHASES:
        a = ann[ann["name"] == name]
        inside = np.zeros(len(when), bool)
        for s, e in zip(a["ts"], a["end"]):
            inside |= (when >= s) & (when <= e)
        phases[name] = {
            "count": int(len(a)),
            "wall_us": float(a["dur"].sum()),
            "work_us": float(dur[inside].sum()),
            "ops": int(inside.sum()),
            "classes": {c: float(dur[inside & (cls == c)].sum()) for c in CLASSES},
        }
    return phases


def _pct(part, whole):
    return float(100 * part / whole) if whole > 0 else 0.0
