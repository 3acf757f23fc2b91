"""Where the time and memory of one `profkit analyze` go, stage by stage, in one process.

    python benchmarks/stages.py TRACE [--workers N]

Times the load (columns, then the Trace's tables), then `summarize` with the efficiency
table computed inline (not forked, so its cost shows), wrapping the analysis steps by name:
each row is a step's wall time (inclusive: nested steps are inside their callers' rows) and
the process's resident memory after it. Steps a checkout does not have are left out, so
the same script measures an older commit (run it from that checkout).
"""

import argparse
import functools
import importlib
import sys
import time

STEPS = {  # module: functions wrapped there
    "profkit.analysis.summarize": ["_gpu_summary", "_whatif", "_class_table", "coverage", "communication",
                                   "collective_args", "steps_summary", "launch_summary", "findings"],
    "profkit.analysis.cost.efficiency": ["efficiency_summary"],
    "profkit.analysis.time.temporal": ["stream_idle", "gap_summary", "gaps_by_device"],
    "profkit.analysis.tables": ["device_gaps"],  # the gap table before gaps_by_device
    "profkit.analysis.classes.classify": ["classify_gpu_layers"],
}


def rss_mb():
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) // 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    rows = []

    def wrap(mod, name):
        f = getattr(mod, name, None)
        if f is None:
            return

        @functools.wraps(f)
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                rows.append((name, time.perf_counter() - t, rss_mb()))
        setattr(mod, name, timed)

    t = time.perf_counter()
    from profkit.analysis import analyze, summarize
    from profkit.trace import loader
    rows.append(("imports", time.perf_counter() - t, rss_mb()))
    summarize.BACKGROUND_ROWS = float("inf")  # inline: the efficiency table's own cost shows
    for mod_name, names in STEPS.items():
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        for name in names:
            wrap(mod, name)
    t = time.perf_counter()
    meta, cols, warnings = loader._columns(args.trace, False, args.workers)
    rows.append(("load: columns", time.perf_counter() - t, rss_mb()))
    from profkit.trace.model import Trace
    t = time.perf_counter()
    trace = Trace(args.trace, meta, cols, warnings)
    del cols
    rows.append(("load: tables (Trace)", time.perf_counter() - t, rss_mb()))
    t = time.perf_counter()
    result = analyze.summarize(trace)
    rows.append(("summarize (all of it)", time.perf_counter() - t, rss_mb()))
    import msgspec
    t = time.perf_counter()
    msgspec.json.encode(result)
    rows.append(("JSON encode", time.perf_counter() - t, rss_mb()))
    print(f"{len(trace.gpu)} GPU activities, {len(trace.runtime)} runtime calls, {len(trace._cpu)} CPU ops\n")
    print("| stage | seconds | RSS after, MB |\n|---|---:|---:|")
    for name, s, mb in rows:
        print(f"| {name} | {s:.2f} | {mb} |")


if __name__ == "__main__":
    sys.exit(main())
