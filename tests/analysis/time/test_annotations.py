"""User annotations with the work inside them, recomputed from the plain JSON by hand: a CPU-side
range holds the kernels whose launch call ran on its thread while it was open, a GPU-side range the
kernels that started on its stream inside it."""

import pytest

import profkit
from tests.helpers.cli import profkit_cli
from tests.helpers.traces import raw_events, real_trace

TRACE = "hta/with_gpu_user_annotation/step_based_trace_2543932.json.gz"


def _by_hand(path):
    events = [e for e in raw_events(path) if e.get("ph") == "X"]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    launch = {e["args"]["correlation"]: e for e in events if e.get("cat") == "cuda_runtime"
              and "correlation" in e.get("args", {})}
    out = []
    for a in events:
        if a.get("cat") == "user_annotation":
            inside = [k for k in gpu if (l := launch.get(k["args"].get("correlation"))) is not None
                      and l["tid"] == a["tid"] and a["ts"] <= l["ts"] <= a["ts"] + a["dur"]]
        elif a.get("cat") == "gpu_user_annotation":
            inside = [k for k in gpu if k["pid"] == a["pid"] and k["tid"] == a["tid"]
                      and a["ts"] <= k["ts"] <= a["ts"] + a["dur"]]
        else:
            continue
        out.append((a["name"], a["cat"] == "gpu_user_annotation", a["ts"], len(inside), sum(k["dur"] for k in inside)))
    return sorted(out)


@pytest.mark.shared
def test_every_range_holds_the_kernels_a_hand_count_gives():
    path = real_trace(TRACE)
    t = profkit.analyze(path).annotations
    got = sorted(zip(t["name"].astype(str), t["on_gpu"], t["ts"], t["kernels"], t["gpu_us"]))
    want = _by_hand(path)
    assert len(got) == len(want) == 20
    for g, w in zip(got, want):
        assert g[:4] == w[:4] and g[4] == pytest.approx(w[4])


@pytest.mark.shared
def test_ranges_nest_per_thread():
    t = profkit.analyze(real_trace("kineto-rtx5080-mlp-train-eager.json.gz")).annotations
    inner = t[t["parent"] >= 0]
    for row in inner.itertuples():
        p = t.loc[row.parent]
        assert (p.pid, p.tid, p.on_gpu) == (row.pid, row.tid, row.on_gpu)
        assert p.ts <= row.ts and row.end <= p.end and row.depth == p.depth + 1


@pytest.mark.shared
def test_the_terminal_breakdown_and_its_pattern():
    path = real_trace(TRACE)
    r = profkit_cli("analyze", path, "--by-annotation", "zero_grad", "--json")
    assert r.returncode == 0, r.stderr
    import json
    rows = json.loads(r.stdout)
    assert {x["name"] for x in rows} == {"Optimizer.zero_grad#SGD.zero_grad"}
    assert {x["side"]: x["kernels"] for x in rows} == {"cpu": 20, "gpu": 20}
    bad = profkit_cli("analyze", path, "--by-annotation", "(")
    assert bad.returncode == 2 and "not a regular expression" in bad.stderr
