"""The loader against an independent full-document parse, and its edge cases."""

import gzip
import json

import numpy as np
import pytest

import profkit
from profkit.errors import ProfkitError
from profkit.trace import reader
from tests.helpers.traces import all_real_traces, raw_events, real_trace

GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset", "memcpy", "memset"}


def naive_counts(path):
    """Count events with the standard library, the slow obvious way."""
    events = raw_events(path)
    counts = {"gpu": 0, "runtime": 0, "cpu": 0, "gpu_dur": 0.0}
    for e in events:
        if e.get("ph") != "X":
            continue
        cat = str(e.get("cat", "")).lower()
        if cat in GPU_CATS:
            counts["gpu"] += 1
            counts["gpu_dur"] += e["dur"]
        elif cat in ("cuda_runtime", "cuda_driver", "runtime"):
            counts["runtime"] += 1
        elif cat in ("cpu_op", "operator"):
            counts["cpu"] += 1
    return counts


@pytest.mark.parametrize("path", all_real_traces(), ids=lambda p: p.name)
def test_real_trace_matches_naive_parse(path):
    trace = profkit.load(path)
    want = naive_counts(path)
    assert len(trace.gpu) == want["gpu"]
    assert len(trace.runtime) == want["runtime"]
    assert len(trace.cpu_ops) == want["cpu"]
    assert trace.gpu["dur"].sum() == pytest.approx(want["gpu_dur"])
    assert not trace.warnings
    assert trace.gpu["ts"].is_monotonic_increasing


def test_small_blocks_give_same_tables(monkeypatch):
    path = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")
    whole = profkit.load(path)
    monkeypatch.setattr(reader, "BLOCK", 97)  # cuts land everywhere, strings included
    pieces = profkit.load(path)
    assert whole.gpu.equals(pieces.gpu)
    assert whole.cpu_ops.equals(pieces.cpu_ops)
    assert whole.meta == pieces.meta


def event(cat, name, ts, dur, **args):
    return {"ph": "X", "cat": cat, "name": name, "pid": 1, "tid": 2, "ts": ts, "dur": dur, "args": args}


SAMPLE = [
    event("cpu_op", "aten::mm", 10, 20, **{"External id": 5, "Input Dims": [[4, 8], [8, 16]],
                                           "Input type": ["float", "float"], "Concrete Inputs": ["", ""]}),
    event("cuda_runtime", "cudaLaunchKernel", 12, 3, correlation=77, **{"External id": 5}),
    event("kernel", "gemm}, {lambda}] weird", 40, 5, device=0, stream=7, correlation=77, grid=[1, 2, 3]),
    event("user_annotation", "ProfilerStep#3", 0, 100),
]


def write(tmp_path, name, obj, compress, compact=False):
    text = json.dumps(obj, separators=(",", ":") if compact else None, indent=None if compact else 1)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("bare", [True, False])
def test_formats(tmp_path, monkeypatch, compress, compact, bare):
    monkeypatch.setattr(reader, "BLOCK", 13)
    doc = SAMPLE if bare else {"schemaVersion": 1, "deviceProperties": [{"name": "X"}], "traceEvents": SAMPLE,
                               "distributedInfo": {"rank": 3, "world_size": 8}}
    # Misleading suffix on purpose: gzip is found by magic bytes, not by name.
    trace = profkit.load(write(tmp_path, "t.json" if compress else "t.json.gz", doc, compress, compact))
    assert list(trace.gpu["name"]) == ["gemm}, {lambda}] weird"]
    assert trace.gpu_ops()["op_name"].tolist() == ["aten::mm"]
    assert trace.gpu_launches()["launch_ts"].tolist() == [12]
    assert trace.gpu.loc[0, "grid"] == "[1,2,3]"
    assert trace.cpu_ops.loc[0, "input_dims"] == [[4, 8], [8, 16]]
    assert trace.gpu_ops()["op_input_concrete"].tolist() == [["", ""]]
    assert trace.steps["step"].tolist() == [3]
    if not bare:
        assert (trace.rank, trace.world_size) == (3, 8)
        assert trace.device_properties == [{"name": "X"}]


def test_nesting(tmp_path):
    ops = [event("cpu_op", "outer", 0, 100), event("cpu_op", "mid", 10, 50), event("cpu_op", "leaf1", 10, 5),
           event("cpu_op", "leaf2", 30, 5), event("cpu_op", "after", 200, 1)]
    cpu = profkit.load(write(tmp_path, "n.json", ops, False)).cpu_ops.set_index("name")
    assert cpu.loc["outer", "depth"] == 0 and not cpu.loc["outer", "is_leaf"]
    assert cpu.loc["leaf1", "depth"] == 2 and cpu.loc["leaf2", "depth"] == 2
    assert cpu.loc["after", "depth"] == 0 and cpu.loc["after", "is_leaf"]
    names = list(cpu.index)
    assert names[cpu.loc["leaf2", "parent"]] == "mid"


def test_negative_number_ids_beside_text_ids(tmp_path):
    """A tid of -3 next to a text tid in one block: numbers stay numbers, text gets its own id."""
    ops = [dict(event("cpu_op", "a", 0, 1), tid=-3), dict(event("cpu_op", "b", 2, 1), tid="worker"),
           dict(event("cpu_op", "c", 4, 1), tid=-3), dict(event("cpu_op", "d", 6, 1), tid=2 ** 70),
           dict(event("cpu_op", "e", 8, 1), tid="²"),  # a digit to str.isdigit, not to int()
           dict(event("cpu_op", "f", 9, 1), tid="9" * 5000)]  # past int()'s digit limit
    cpu = profkit.load(write(tmp_path, "ids.json", ops, False)).cpu_ops.set_index("name")["tid"]
    assert cpu["a"] == cpu["c"] == -3
    assert cpu["b"] not in (-3, -1) and cpu["d"] not in (-1, cpu["b"])  # 2**70: an id like text
    assert cpu["e"] not in (-1, cpu["b"], cpu["d"]) and cpu["f"] not in (-1, cpu["b"], cpu["d"], cpu["e"])


def _nesting_by_stack(pid, tid, end):
    """The definition: one pass with a stack per thread."""
    n = len(end)
    depth, parent, leaf, stack, prev = np.zeros(n, np.int64), np.full(n, -1, np.int64), np.ones(n, bool), [], None
    for i in range(n):
        if (pid[i], tid[i]) != prev:
            stack, prev = [], (pid[i], tid[i])
        while stack and end[i] > end[stack[-1]]:
            stack.pop()
        if stack:
            parent[i], depth[i], leaf[stack[-1]] = stack[-1], len(stack), False
        stack.append(i)
    return depth, parent, leaf


@pytest.mark.parametrize("seed", range(20))
def test_nesting_by_pointer_jumping_is_the_stack_pass(seed):
    # Random ops on a few threads, nested, siblings, ties and partial overlaps.
    from profkit.trace.model import nesting

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    pid, tid = rng.integers(0, 2, n), rng.integers(0, 3, n)
    ts = rng.integers(0, 50, n).astype(float)
    dur = rng.choice([0.0, 1.0, 5.0, 20.0, 60.0], n)
    order = np.lexsort((-dur, ts, tid, pid))
    args = pid[order], tid[order], (ts + dur)[order]
    for got, want in zip(nesting(*args), _nesting_by_stack(*args)):
        assert got.tolist() == want.tolist()


def test_bad_ts_and_dur_are_skipped_with_warning(tmp_path):
    events = SAMPLE + [event("kernel", "k", "x", 1), event("kernel", "k", 5, -1), {"ph": "X", "cat": "kernel"}]
    trace = profkit.load(write(tmp_path, "b.json", {"traceEvents": events}, True))
    assert len(trace.gpu) == 1
    assert any("skipped 3 events" in w for w in trace.warnings)


def test_truncated_gzip_keeps_what_was_read(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "BLOCK", 1000)
    src = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz").read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(src[: len(src) // 2])
    trace = profkit.load(cut)
    assert len(trace.cpu_ops) > 0 and len(trace.gpu) < 61  # the file lists CPU ops first
    assert any("cut short" in w for w in trace.warnings)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"{\"a\": 1}", "no traceEvents"),
    (b"{\"traceEvents\": [{\"ph\": \"X\"", "incomplete"),
    (b"not json at all", "not"),
    (b"\x1f\x8bgarbage", "damaged"),
    (b"[1, 2] trailing", "not valid JSON"),
])
def test_bad_input_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ProfkitError, match=message):
        profkit.load(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ProfkitError, match="no such file"):
        profkit.load(tmp_path / "nope.json")
    with pytest.raises(ProfkitError, match="directory"):
        profkit.load(tmp_path)


def test_event_array_before_a_list_of_objects(tmp_path):
    """`{"traceEvents": [...], "deviceProperties": [{...}, {...}, ...]}` (traceEvents first, as
    json.dumps of a rewritten trace writes it): the `},{` after the array are not event boundaries."""
    ev = {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1, "dur": 2,
          "args": {"device": 0, "stream": 7, "correlation": 1}}
    props = [{"id": i, "name": "GPU", "numSms": 132} for i in range(8)]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"traceEvents": [ev, dict(ev, ts=5)], "deviceProperties": props}))
    t = profkit.load(path)
    assert len(t.gpu) == 2 and not t.warnings and len(t.device_properties) == 8


def test_collective_args_have_one_list():
    """The decoder's Collective Struct reads exactly the args columns.COLLECTIVE_ARGS names."""
    from profkit.trace.columns import COLLECTIVE_ARGS
    from profkit.trace.decode import Collective

    assert Collective.__struct_encode_fields__ == COLLECTIVE_ARGS
