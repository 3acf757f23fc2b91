"""Commands run under a time and memory bound, as the hostile-input suite needs them.

`bounded(*args)` runs `python -m profkit ARGS` through a small parent that reports the
peak resident memory of its child (getrusage of its own children only: the test process's
other children do not count) and fails the test when the run takes longer than `seconds`
or more than `mb` megabytes. The bounds are generous ceilings for a shared 2-core machine,
not benchmarks."""

import subprocess
import sys
import time

import pytest

_PARENT = ("import resource, subprocess, sys\n"
           "r = subprocess.run(sys.argv[1:])\n"
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
           "sys.exit(r.returncode)\n")


def bounded(*args, seconds=60, mb=1024, cwd=None, env=None):
    """The CompletedProcess of `profkit ARGS` (text), after checking it ran within the bounds; its
    stderr without the parent's memory line. `.wall` and `.peak_mb` say what it took."""
    t = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-c", _PARENT, sys.executable, "-m", "profkit", *map(str, args)],
                           capture_output=True, text=True, timeout=seconds, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"profkit {' '.join(map(str, args))[:200]} ran past {seconds} s")
    wall = time.perf_counter() - t
    *err, peak = r.stderr.rstrip("\n").split("\n")
    r.stderr, r.wall, r.peak_mb = "\n".join(err), wall, int(peak) / 1024
    assert r.peak_mb < mb, f"{r.peak_mb:.0f} MB (bound {mb} MB)"
    return r


def one_line_error(r):
    """A user error as profkit reports it: exit 2, one line on stderr, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("profkit: error: "), r.stderr
    return lines[0]
