"""The loader's engine: parallel decode, odd types, the columnar cache, hostile input in bounded time."""

import gzip
import json
import os
import subprocess
import sys
import time

import pytest

from profkit.errors import ProfkitError
from profkit.trace import cache, load, reader
from profkit.trace.loader import load_later
from tests.helpers.digest import trace_digest
from tests.helpers.traces import real_trace

OWL = "kineto-h100-owlv2-large-hf-eager-infer.json.gz"


@pytest.mark.parametrize("plain", [False, True])
def test_worker_processes_give_the_serial_tables(monkeypatch, tmp_path, plain):
    """Gzip blocks go to the workers as text, plain ones as (offset, length) they read themselves."""
    path = real_trace(OWL)
    if plain:
        path = tmp_path / "owl.json"
        path.write_bytes(gzip.decompress(real_trace(OWL).read_bytes()))
    serial = trace_digest(load(path, cache=False, workers=1))
    monkeypatch.setattr(reader, "BLOCK", 1 << 20)  # many blocks, so every worker gets some
    assert trace_digest(load(path, cache=False, workers=2)) == serial


def test_a_file_changed_while_workers_read_it_is_an_error(monkeypatch, tmp_path):
    from profkit.trace import pool

    path = tmp_path / "t.json"
    path.write_text(json.dumps({"traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7,
                                                  "ts": i, "dur": 1} for i in range(100)]}))
    stats = iter([(1, 1, 1), (2, 2, 2)])  # the file's identity before and after the read
    monkeypatch.setattr(pool, "_identity", lambda p: next(stats))
    with pytest.raises(ProfkitError, match="changed while it was read"):
        load(path, cache=False, workers=2)


def test_load_later_gives_the_same_trace_and_errors(tmp_path):
    """The trace decoded in a forked process while the caller imports: same tables, same errors."""
    path = real_trace(OWL)
    assert trace_digest(load_later(path)()) == trace_digest(load(path, cache=False))
    bad = tmp_path / "bad.json"
    bad.write_text('{"traceEvents": [{"ph":')
    pending = load_later(bad)
    with pytest.raises(ProfkitError, match="not valid JSON"):
        pending()


def test_load_later_of_a_pool_sized_trace_reads_in_a_thread(tmp_path, monkeypatch):
    """Above PARALLEL_BYTES the pool is forked at once and a thread feeds it: same trace, same errors."""
    from profkit.trace import loader

    monkeypatch.setattr(loader, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(reader, "BLOCK", 1 << 20)
    monkeypatch.setenv("PROFKIT_NO_CACHE", "1")  # not answered from the cache: decoded
    threads, in_thread = [], loader._load_in_thread
    monkeypatch.setattr(loader, "_load_in_thread", lambda *a: threads.append(a) or in_thread(*a))
    path = real_trace(OWL)
    assert trace_digest(load_later(path)()) == trace_digest(load(path, cache=False, workers=1))
    bad = tmp_path / "bad.json"
    bad.write_text('{"traceEvents": [{"ph":')
    pending = load_later(bad)
    with pytest.raises(ProfkitError, match="not valid JSON"):
        pending()
    assert len(threads) == (2 if loader._cores() > 1 else 0)


def test_odd_types_load_by_the_old_rules(tmp_path):
    """Types Kineto never writes take the generic path, with the loader's rules for each field."""
    events = [
        {"ph": "X", "cat": "kernel", "name": "k1", "pid": 0.0, "tid": "stream 7", "ts": 10, "dur": 2,
         "args": {"correlation": 5.0, "device": True, "grid": [1, 2], "bytes": "x"}},
        {"ph": "X", "cat": "Kernel", "name": 3, "pid": 1, "tid": "weird", "ts": 20.5, "dur": 1, "args": None},
        {"ph": "X", "cat": "kernel", "name": "bad", "ts": "20", "dur": 1}, 17, "text",
        {"ph": "X", "cat": "cpu_op", "name": "op", "pid": 1, "tid": 2, "ts": 1, "dur": 30,
         "args": {"External id": None, "external id": 9, "Input dims": [[2, 2]]}},
        {"ph": "s", "cat": "ac2g", "id": 5.5, "pid": 1, "tid": 2, "ts": -1},
        {"ph": "f", "cat": 7, "id": 5, "pid": 1, "tid": 2, "ts": True},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": "weird", "args": {"name": 12}},
    ]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"traceEvents": events}))
    t = load(path)
    gpu = t.gpu.set_index("name")
    assert list(gpu.index) == ["k1", ""]
    assert gpu.loc["k1", ["device", "stream", "correlation"]].tolist() == [-1, 7, 5]  # bool -> -1, float 5.0 -> 5
    assert gpu.loc["k1", "grid"] == "[1,2]" and gpu.loc["", "stream"] <= -2 and gpu.loc["", "device"] == 1
    assert gpu["bytes"].isna().all()
    ops = t.cpu_ops
    assert ops["external_id"].tolist() == [-1] and ops["input_dims"].tolist() == [[[2, 2]]]
    assert t.flows["id"].tolist() == [-1] and t.flows["ts"].tolist() == [-1]
    assert t.thread_names == {(1, gpu.loc["", "stream"]): "12"}
    assert t.counts == {"kernel": 2, "Kernel": 1, "cpu_op": 1, "ac2g": 1, "7": 1, "": 1}
    assert any("skipped 4 events" in w for w in t.warnings)  # ts "20", ts True, 17, "text"


def test_odd_args_alone_take_the_generic_path(tmp_path):
    """Top-level fields of Kineto's types, args of other types: the args decoded per table
    fail, and the block is read generically by the same rules (it used to raise)."""
    events = [
        {"ph": "X", "cat": "kernel", "name": "k1", "pid": 0, "tid": 7, "ts": 10, "dur": 2,
         "args": {"correlation": 1.5, "device": 2.0, "bytes": "x"}},
        {"ph": "X", "cat": "kernel", "name": "k2", "pid": 3, "tid": 7, "ts": 20, "dur": 2, "args": [1]},
        {"ph": "X", "cat": "python_function", "name": "f", "pid": 0, "tid": 7, "ts": 1, "dur": 50,
         "args": {"Python id": "not a number"}},
    ]
    path = tmp_path / "odd-args.json"
    path.write_text(json.dumps({"traceEvents": events}))
    gpu = load(path, cache=False).gpu.set_index("name")
    assert gpu.loc["k1", ["device", "correlation"]].tolist() == [2, -1]  # 2.0 -> 2, 1.5 -> -1
    assert gpu.loc["k2", ["device", "correlation"]].tolist() == [3, -1]  # args not an object: none
    assert gpu["bytes"].isna().all()


# -- cache ---------------------------------------------------------------------

@pytest.fixture
def small_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    return tmp_path / "cache"


def test_cache_hit_gives_identical_tables(small_cache):
    path = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")
    first = trace_digest(load(path))
    assert len(cache.entries()) == 1
    again = load(path)
    assert trace_digest(again) == first
    assert again.meta == load(path, cache=False).meta


def test_changed_file_is_never_served_stale(small_cache, tmp_path):
    path = tmp_path / "t.json"
    ev = {"ph": "X", "cat": "kernel", "name": "a", "pid": 0, "tid": 7, "ts": 1, "dur": 2}
    path.write_text(json.dumps([ev]))
    assert load(path).gpu["name"].tolist() == ["a"]
    st = os.stat(path)
    path.write_text(json.dumps([{**ev, "name": "b"}]))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and same mtime
    assert load(path).gpu["name"].tolist() == ["b"]


def test_corrupt_entry_is_discarded_with_a_warning(small_cache, tmp_path):
    path = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")
    want = trace_digest(load(path))
    entry = cache.entries()[0]
    entry.write_bytes(entry.read_bytes()[:1000])
    with pytest.warns(cache.CacheWarning, match="discarding"):
        assert trace_digest(load(path)) == want
    assert trace_digest(load(path)) == want  # rewritten


def test_no_cache_reads_and_writes_nothing(small_cache, monkeypatch):
    monkeypatch.setenv("PROFKIT_NO_CACHE", "1")
    load(real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz"))
    assert cache.entries() == []


def test_cache_cli(small_cache):
    path = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "profkit", *args], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.getcwd()})
        assert r.returncode == 0, r.stderr
        return r.stdout

    out1 = cli("analyze", "--json", str(path), "--no-cache")
    assert "0 cached traces and 0 analysis results" in cli("cache", "info")
    load(path)  # MIN_BYTES is patched in this process only
    assert "1 cached trace and 0 analysis results," in cli("cache", "info")
    assert cli("analyze", "--json", str(path)) == out1
    assert "removed 1 cache file" in cli("cache", "clear")
    assert cache.entries() == []


# -- hostile input -------------------------------------------------------------
# Generous budgets: the point is linear time (minutes before), not speed on a busy machine.

def gz_members(*parts):
    return b"".join(gzip.compress(p, 9) for p in parts)


def timed(path, budget):
    start = time.perf_counter()
    try:
        return load(path, cache=False)
    finally:
        assert time.perf_counter() - start < budget


SPACES = gzip.compress(b" " * (64 << 20), 9)  # 64 MB of text in 64 KB


@pytest.mark.parametrize("workers", [1, 2])
def test_an_integer_no_reader_can_hold_is_an_error_not_a_loop(tmp_path, monkeypatch, workers):
    """Valid JSON that msgspec, orjson and json all refuse used to be cut again forever."""
    monkeypatch.setattr(reader, "BLOCK", 64)
    ok = '{"ph":"X","cat":"cpu_op","name":"a","pid":1,"tid":2,"ts":1,"dur":1}'
    path = tmp_path / "huge-int.json"
    path.write_text('{"traceEvents": [' + ",".join([ok] * 20 + [ok.replace('"tid":2', '"tid":' + "9" * 5000)])
                    + "]}")
    start = time.perf_counter()
    with pytest.raises(ProfkitError, match="no JSON reader here can hold"):
        load(path, cache=False, workers=workers)
    assert time.perf_counter() - start < 30


def test_integers_beyond_64_bits_in_odd_blocks_load(tmp_path):
    """orjson refuses them; the generic path reads them with the standard library (ids become text)."""
    path = tmp_path / "big-ints.json"
    path.write_text('{"traceEvents": [{"ph":"X","cat":"cpu_op","name":"a","pid":1.0,"tid":' + "9" * 25 + ','
                    '"ts":1,"dur":1,"args":{"External id":' + "8" * 30 + ',"Input Dims":[[' + "7" * 22 + "]]}}]}")
    ops = load(path, cache=False).cpu_ops
    assert len(ops) == 1 and ops["tid"][0] <= -2 and ops["external_id"][0] <= -2


def test_gzip_bomb_header(tmp_path):
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b'{"meta": "') + SPACES * 32)  # 2 GB of header text
    with pytest.raises(ProfkitError, match="no traceEvents array in the first 64 MB"):
        timed(path, 20)


def test_gzip_bomb_after_the_events(tmp_path):
    ev = b'{"ph": "X", "cat": "kernel", "name": "k", "ts": 1, "dur": 1}'
    path = tmp_path / "tail.json.gz"
    path.write_bytes(gzip.compress(b'{"traceEvents": [' + ev + b'], "x": "') + SPACES * 32)
    with pytest.raises(ProfkitError, match="more than 64 MB after the event array"):
        timed(path, 20)


def test_huge_event_shaped_like_boundaries(tmp_path):
    boundaries = gzip.compress(b"},{" * (1 << 20), 9)  # 3 MB each
    head = b'{"traceEvents": [{"ph": "X", "cat": "kernel", "ts": 1, "dur": 1, "name": "'
    path = tmp_path / "huge.json.gz"
    path.write_bytes(gzip.compress(head) + boundaries * 100 + gzip.compress(b'"}]}'))  # a 300 MB name
    with pytest.raises(ProfkitError, match="no event boundary in 64 MB"):
        timed(path, 30)
    # Under the cap, the same shape loads (one 18 MB event), still without rescanning.
    path.write_bytes(gzip.compress(head) + boundaries * 6
                     + gzip.compress(b'"}, {"ph": "X", "cat": "kernel", "ts": 2, "dur": 1, "name": "k"}]}'))
    t = timed(path, 20)
    assert len(t.gpu) == 2 and len(t.gpu["name"].iloc[0]) == 3 * 6 * (1 << 20)


def test_deep_nesting(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b'{"traceEvents": [{"ph": "X", "cat": "kernel", "ts": 1, "dur": 1, "args": {"x": '
                     + b"[" * 200_000 + b"]" * 200_000 + b"}}]}")
    with pytest.raises(ProfkitError, match="nested too deeply"):
        timed(path, 10)


def test_a_million_zero_length_events(tmp_path):
    ev = b'{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1, "dur": 0}'
    n = 1_000_000
    path = tmp_path / "zero.json.gz"
    path.write_bytes(gzip.compress(b'{"traceEvents": [' + b",".join([ev] * n) + b"]}", 1))
    t = timed(path, 60)
    assert len(t.gpu) == n and t.gpu["dur"].sum() == 0


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("block", [7, 64, 4096])
def test_boundaries_inside_strings_and_arrays_are_never_cut(tmp_path, monkeypatch, workers, block):
    """The cheap cut takes `},{` in a name or in an args array of objects; the decoder notices."""
    monkeypatch.setattr(reader, "BLOCK", block)
    events = [{"ph": "X", "cat": "kernel", "name": f"k{i} }}, {{ ]}}", "pid": 0, "tid": 7, "ts": i, "dur": 1,
               "args": {"nested": [{"a": 1}, {"b": [{"c": 2}, {"d": 3}]}]}} for i in range(40)]
    path = tmp_path / "tricky.json"
    path.write_text(json.dumps({"traceEvents": events, "after": {"x": [{"y": 1}, {"z": 2}]}}, indent=1))
    t = load(path, cache=False, workers=workers)
    assert t.gpu["name"].tolist() == [e["name"] for e in events]
    assert t.meta == {"after": {"x": [{"y": 1}, {"z": 2}]}} and not t.warnings
