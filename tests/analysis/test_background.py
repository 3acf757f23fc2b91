"""A summarize step computed in a forked process gives exactly what it gives inline."""

import os
import subprocess
import sys
import textwrap
import threading

import msgspec
import pytest

import profkit
from profkit.analysis import summarize as summary
from profkit.analysis.analyze import summarize
from profkit.analysis.background import Background
from profkit.analysis.result import encode
from tests.helpers import REPO
from tests.helpers.traces import real_trace


class Point(msgspec.Struct):
    x: float
    pid: int


def point(x):
    return Point(x=x, pid=os.getpid())


def _in_a_fresh_process(body):
    """Run `body` in a new interpreter: Background forks only where no other thread runs, and an
    earlier test of this session may have left one (tqdm's monitor, imported with transformers)."""
    script = ("import os\nimport msgspec\nfrom profkit.analysis.background import Background\n"
              "class Point(msgspec.Struct):\n    x: float\n    pid: int\n"
              "def point(x):\n    return Point(x=x, pid=os.getpid())\n" + textwrap.dedent(body))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


def test_the_result_comes_from_a_child_and_decodes_exactly():
    _in_a_fresh_process("""
        got = Background(point, 0.1 + 0.2, result_type=Point).result()
        assert got.x == 0.1 + 0.2 and got.pid != os.getpid()
    """)


def test_a_failing_child_falls_back_to_computing_here():
    _in_a_fresh_process("""
        parent = os.getpid()

        def fails_in_a_child(x):
            if os.getpid() != parent:
                raise RuntimeError("only in the child")
            return point(x)

        b = Background(fails_in_a_child, 1.0, result_type=Point)
        assert b._pid is not None  # forked
        assert b.result() == Point(x=1.0, pid=parent)
    """)


def test_inline_when_asked_or_when_other_threads_run():
    assert Background(point, 1.0, result_type=Point, inline=True).result().pid == os.getpid()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert Background(point, 1.0, result_type=Point).result().pid == os.getpid()
    finally:
        stop.set()
        other.join()


def test_never_asked_for_is_reaped():
    _in_a_fresh_process("""
        b = Background(point, 1.0, result_type=Point)
        pid = b._pid
        assert pid is not None  # forked
        del b
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        else:
            raise AssertionError("the child was not reaped")
    """)


@pytest.mark.parametrize("name", ["kineto-h100-owlv2-large-hf-eager-infer.json.gz",
                                  "kineto-rtx5080-mlp-train-eager.json.gz"])
def test_summary_with_the_efficiency_forked_is_byte_identical(monkeypatch, name):
    inline = encode(summarize(profkit.load(real_trace(name))))
    monkeypatch.setattr(summary, "BACKGROUND_ROWS", 0)
    assert encode(summarize(profkit.load(real_trace(name)))) == inline
