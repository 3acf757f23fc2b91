"""Time and peak memory of `profkit analyze` against HTA on the same trace.

    python benchmarks/bench_vs_hta.py TRACE [TRACE ...] [--repeat 3] [--hta-python PY]

Each tool runs in a fresh process under /usr/bin/time -v (wall time, peak RSS);
the best of --repeat runs is kept. HTA does the equivalent work: TraceAnalysis
(parse) + get_temporal_breakdown + get_idle_time_breakdown. Needs the `hta`
extra (pip install -e '.[hta]') or --hta-python pointing at an environment with
HolisticTraceAnalysis.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HTA_SCRIPT = """
import logging, sys
logging.disable(logging.WARNING)
from hta.trace_analysis import TraceAnalysis
a = TraceAnalysis(trace_dir=sys.argv[1])
a.get_temporal_breakdown(visualize=False)
a.get_idle_time_breakdown(ranks=list(a.t.traces), visualize=False)
"""


def measure(cmd, stdout=subprocess.DEVNULL):
    """(wall seconds, peak RSS MB) of one run of `cmd` (its output to `stdout`), or None if it failed."""
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=stdout, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        last = [line for line in r.stderr.splitlines() if line and not line.startswith(("\t", " "))]
        print(f"  {cmd[0]} ... failed: {last[-2] if len(last) > 1 else r.returncode}", file=sys.stderr)
        return None
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr).group(1)
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return seconds, rss_kb / 1024


def best(cmd, repeat):
    runs = [measure(cmd) for _ in range(repeat)]
    if None in runs:
        return None
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces", nargs="+", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hta-python", default=sys.executable)
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs /usr/bin/time (Debian package 'time')")
    print(f"{'trace':58} {'MB':>6} {'profkit s':>9} {'HTA s':>7} {'x faster':>8} "
          f"{'profkit MB':>10} {'HTA MB':>7} {'mem ratio':>9}")
    for trace in args.traces:
        # --no-cache: every run reads the file (a cache hit is measured by performance.py)
        ours = best([sys.executable, "-m", "profkit", "analyze", "--json", "--no-cache", str(trace)], args.repeat)
        with tempfile.TemporaryDirectory() as d:
            # HTA reads every trace in a folder: give it a folder holding only this one.
            shutil.copy(trace, Path(d) / trace.name)
            hta = best([args.hta_python, "-c", HTA_SCRIPT, d], args.repeat)
        size = trace.stat().st_size / 2**20
        if ours is None:
            raise SystemExit(f"profkit failed on {trace}")
        if hta is None:
            print(f"{trace.name[:58]:58} {size:6.1f} {ours[0]:9.2f} {'failed':>7} {'':8} {ours[1]:10.0f}")
            continue
        print(f"{trace.name[:58]:58} {size:6.1f} {ours[0]:9.2f} {hta[0]:7.2f} {hta[0] / ours[0]:8.1f} "
              f"{ours[1]:10.0f} {hta[1]:7.0f} {ours[1] / hta[1]:9.2f}")


if __name__ == "__main__":
    main()
