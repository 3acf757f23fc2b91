"""A summarize step computed in a forked process gives exactly what it gives inline."""

import os
import threading

import msgspec
import pytest

import profkit
from profkit.analysis import summary
from profkit.analysis.background import Background
from profkit.analysis.result import encode
from tests.conftest import real_trace


class Point(msgspec.Struct):
    x: float
    pid: int


def point(x):
    return Point(x=x, pid=os.getpid())


def test_the_result_comes_from_a_child_and_decodes_exactly():
    got = Background(point, 0.1 + 0.2, result_type=Point).result()
    assert got.x == 0.1 + 0.2 and got.pid != os.getpid()


def test_a_failing_child_falls_back_to_computing_here():
    parent = os.getpid()

    def fails_in_a_child(x):
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return point(x)

    got = Background(fails_in_a_child, 1.0, result_type=Point).result()
    assert got == Point(x=1.0, pid=parent)


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
    b = Background(point, 1.0, result_type=Point)
    pid = b._pid
    del b
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("name", ["kineto-h100-owlv2-large-hf-eager-infer.json.gz",
                                  "kineto-rtx5080-mlp-train-eager.json.gz"])
def test_summary_with_the_efficiency_forked_is_byte_identical(monkeypatch, name):
    inline = encode(summary.summarize(profkit.load(real_trace(name))))
    monkeypatch.setattr(summary, "BACKGROUND_ROWS", 0)
    assert encode(summary.summarize(profkit.load(real_trace(name)))) == inline
