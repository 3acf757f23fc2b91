"""Optional section computed by HolisticTraceAnalysis itself (the `hta` extra).

profkit does not re-implement these: HTA's critical-path and queue-length
analyses are shown as HTA's, with its own numbers, next to profkit's.
"""

import contextlib
import io
import logging
import warnings

HOW_TO_ENABLE = "pip install 'profkit[hta]'"


def hta_version():
    """HTA's version string, or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import hta
    except ImportError:
        return None
    try:
        return version("HolisticTraceAnalysis")
    except PackageNotFoundError:  # importable from a source checkout
        return getattr(hta, "__version__", "(version unknown)")


@contextlib.contextmanager
def _quiet():
    """HTA logs every parse step and prints summaries; the CLI output stays ours."""
    log = logging.getLogger("hta")
    level = log.level
    log.setLevel(logging.CRITICAL)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # HTA's pandas deprecation warnings are not the user's concern
            yield
    finally:
        log.setLevel(level)


def _queue_rows(ta):
    df = ta.get_queue_length_summary(ranks=[0])
    if df is None or df.empty:
        return []
    q = df["queue_length"]
    return [{"stream": int(stream), "samples": int(r["count"]), "mean": float(r["mean"]),
             "p50": float(r["50%"]), "p75": float(r["75%"]), "max": float(r["max"])}
            for (_, stream), r in q.iterrows()]


def _critical_path(ta, n_steps):
    """HTA's critical path of one profiler step (the second: the first is often partial)."""
    if n_steps:
        result = ta.critical_path_analysis(rank=0, annotation="ProfilerStep", instance_id=1 if n_steps > 1 else 0)
        where = f"profiler step {'2' if n_steps > 1 else '1'} of {n_steps}"
    else:
        result = ta.critical_path_analysis(rank=0, annotation="", instance_id=None)
        where = "whole trace"
    if not result or not result[1]:
        return {"where": where, "error": "HTA found no critical path for this trace", "rows": []}
    edges = result[0].get_critical_path_breakdown()
    if edges is None or edges.empty:
        return {"where": where, "error": "HTA's critical path is empty", "rows": []}
    edges = edges[edges["bound_by"] != ""]
    total = float(edges["duration"].sum())
    by = edges.groupby("bound_by")["duration"].sum().sort_values(ascending=False)
    return {"where": where, "error": None, "total_us": total,
            "rows": [{"bound_by": k, "us": float(v), "pct": 100.0 * float(v) / total if total else 0.0}
                     for k, v in by.items()]}


def hta_section(run, n_steps):
    """HTA's numbers for one GPU trace, or why there are none."""
    version = hta_version()
    if version is None:
        return {"available": False, "how": HOW_TO_ENABLE}
    if not run.trace.has_gpu:
        return {"available": True, "version": version, "skipped": "no GPU activity in this trace"}
    from hta.trace_analysis import TraceAnalysis

    out = {"available": True, "version": version, "skipped": None}
    try:
        with _quiet():
            ta = TraceAnalysis(trace_files={0: str(run.path.resolve())}, trace_dir=str(run.path.parent.resolve()))
    except Exception as e:  # HTA is a third-party parser: its failure must not sink the report.
        out["skipped"] = f"HTA could not load the trace: {type(e).__name__}: {e}"
        return out
    try:
        with _quiet():
            out["queue"] = _queue_rows(ta)
    except Exception as e:
        out["queue_error"] = f"{type(e).__name__}: {e}"
    try:
        with _quiet():
            out["critical_path"] = _critical_path(ta, n_steps)
    except Exception as e:
        import pandas

        out["critical_path"] = {"where": "", "rows": [], "error": f"HTA's critical-path analysis failed inside "
                                f"HTA {version} with pandas {pandas.__version__} ({type(e).__name__}: {e})"}
    return out
