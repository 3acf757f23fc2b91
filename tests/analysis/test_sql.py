"""profkit sql: the views against a plain JSON reading of the same trace, and read-only refusal."""

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

from profkit.analysis.classes import classify
from profkit.analysis import sql
from profkit.errors import ProfkitError
from profkit.trace import load
from tests.helpers import REPO
from tests.helpers.traces import real_trace

pytest.importorskip("duckdb")
MLP = "kineto-rtx5080-mlp-train-eager.json.gz"


def raw_events(path):
    return json.loads(gzip.open(path).read())["traceEvents"]


def test_top_kernels_match_a_plain_count():
    path = real_trace(MLP)
    want = defaultdict(lambda: [0, 0.0])
    for e in raw_events(path):
        if e.get("ph") == "X" and e.get("cat") == "kernel":
            want[e["name"]][0] += 1
            want[e["name"]][1] += e["dur"]
    cols, rows, _ = sql.query(load(path), "SELECT name, count(*) AS n, sum(dur) AS t FROM gpu WHERE kind = 'kernel' "
                                       "GROUP BY name ORDER BY t DESC")
    assert cols == ["name", "n", "t"]
    assert {r[0]: [r[1], pytest.approx(r[2])] for r in rows} == {k: [n, t] for k, (n, t) in want.items()}


def test_step_of_each_activity_is_the_step_that_launched_it():
    path = real_trace(MLP)
    events = raw_events(path)
    steps = [(int(e["name"].split("#")[1]), e["ts"], e["dur"]) for e in events
             if e.get("cat") == "user_annotation" and e["name"].startswith("ProfilerStep#")]
    launch = {e["args"]["correlation"]: e["ts"] for e in events
              if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    want = defaultdict(lambda: [0, 0.0])
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            ts = launch.get(e["args"]["correlation"])
            step = next((n for n, a, d in steps if ts is not None and a <= ts < a + d), None)
            want[step][0] += 1
            want[step][1] += e["dur"]
    _, rows, _ = sql.query(load(path), "SELECT step, count(*), sum(dur) FROM gpu GROUP BY step")
    assert {r[0]: [r[1], pytest.approx(r[2])] for r in rows} == {k: [n, t] for k, (n, t) in want.items()}
    _, steps_rows, _ = sql.query(load(path), "SELECT step, ts, dur FROM steps ORDER BY step")
    assert steps_rows == sorted(steps)


def test_classes_self_time_and_flows():
    path = real_trace(MLP)
    trace = load(path)
    _, rows, _ = sql.query(trace, "SELECT class, kernels, time_us, pct FROM kernels_by_class")
    kernels = trace.gpu["kind"] == "kernel"
    cls = classify.classify_gpu(trace)[kernels]
    want = trace.gpu[kernels].groupby(cls.astype(str))["dur"].agg(["size", "sum"])
    assert {r[0]: (r[1], pytest.approx(r[2])) for r in rows} == {c: (n, t) for c, (n, t) in want.iterrows()}
    assert sum(r[3] for r in rows) == pytest.approx(100)
    # Self times of properly nested ops add up to the top-level ops' time.
    _, [(self_sum, top_sum)], _ = sql.query(trace, "SELECT sum(self_dur), sum(dur) FILTER (WHERE depth = 0) FROM cpu_ops")
    assert self_sum == pytest.approx(top_sum)
    _, [(parents_ok,)], _ = sql.query(trace, "SELECT bool_and(p.ts <= c.ts AND c.ts + c.dur <= p.ts + p.dur) "
                                          "FROM cpu_ops c JOIN cpu_ops p ON c.parent = p.id")
    assert parents_ok
    flows = [e for e in raw_events(path) if e.get("ph") in ("s", "f", "t")]
    _, rows, _ = sql.query(trace, "SELECT phase, count(*) FROM flows GROUP BY phase")
    assert dict(rows) == {p: sum(e["ph"] == p for e in flows) for p in {e["ph"] for e in flows}}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "profkit", "sql", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_cli_formats():
    path = str(real_trace(MLP))
    q = "SELECT step, count(*) AS n FROM gpu GROUP BY step ORDER BY step"
    as_csv = run_cli(path, q, "--format", "csv")
    as_json = run_cli(path, q, "--format", "json")
    as_table = run_cli(path, q)
    assert as_csv.returncode == as_json.returncode == as_table.returncode == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [{k: str(v) for k, v in r.items()} for r in json.loads(as_json.stdout)] == rows
    assert as_table.stdout.splitlines()[0].split() == ["step", "n"]
    assert as_table.stdout.rstrip().endswith(f"({len(rows)} rows)")


@pytest.mark.parametrize("query, message", [
    ("DROP VIEW gpu", "only queries are allowed"),
    ("CREATE TABLE x AS SELECT 1", "only queries are allowed"),
    ("COPY gpu TO 'out.csv'", "only queries are allowed"),
    ("SET threads = 1", "only queries are allowed"),
    ("SELECT 1; SELECT 2", "exactly one query"),
    ("SELECT * FROM read_csv('/etc/hostname')", "disabled"),
    ("SELEC 1", "syntax error"),
])
def test_anything_but_one_query_is_refused(query, message):
    r = run_cli(str(real_trace(MLP)), query)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def test_without_duckdb_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ProfkitError, match=r"pip install 'profkit\[sql\]'"):
        sql.query(load(real_trace(MLP)), "SELECT 1")


def test_every_example_in_the_docs_runs():
    import re

    trace = load(real_trace(MLP))
    examples = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "sql.md").read_text(), re.S)
    assert len(examples) >= 5
    for q in examples:
        assert sql.query(trace, q)[1]
