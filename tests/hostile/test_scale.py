"""Cost linear in devices, streams and distinct names: a real trace's kernels spread over ten
thousand devices, and a trace of 200 000 distinct kernel names, analyse within the suite's bounds."""

import gzip
import json

from tests.helpers.bounded import bounded
from tests.helpers.traces import real_trace

SOURCE = "kineto-rtx5080-mlp-train-eager.json.gz"


def _doc():
    return json.loads(gzip.decompress(real_trace(SOURCE).read_bytes()))


def _analyze(tmp_path, doc):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    r = bounded("analyze", "--json", "--no-cache", path, seconds=60, mb=1024)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_ten_thousand_devices(tmp_path):
    doc = _doc()
    kernels = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    rest = [e for e in doc["traceEvents"] if e.get("cat") != "kernel"]
    spread = []
    for i in range(10_000):
        k = dict(kernels[i % len(kernels)])
        k["args"] = {**k["args"], "device": i}
        k["pid"] = i
        spread.append(k)
    doc["traceEvents"] = rest + spread
    s = _analyze(tmp_path, doc)
    assert s["device"]["count"] == 10_000 or len({st["device"] for st in s["streams"]}) == 10_000
    assert 0 <= s["temporal"]["busy_pct"] <= 100


def test_two_hundred_thousand_distinct_kernel_names(tmp_path):
    doc = _doc()
    rest = [e for e in doc["traceEvents"] if e.get("cat") != "kernel"]
    t0 = min(e["ts"] for e in doc["traceEvents"] if e.get("cat") == "kernel")
    doc["traceEvents"] = rest + [
        {"ph": "X", "cat": "kernel", "name": f"void kernel_{i}<float>(int)", "pid": 0, "tid": 7, "ts": t0 + 2.0 * i,
         "dur": 1.0, "args": {"device": 0, "stream": 7, "correlation": -1}} for i in range(200_000)]
    s = _analyze(tmp_path, doc)
    assert sum(c["count"] for c in s["classes"].values()) >= 200_000  # (and the trace's copies)
