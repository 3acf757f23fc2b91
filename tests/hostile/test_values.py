"""Values JSON does not have, one bad event, and what profkit keeps of the user's files: a NaN, an
Infinity or a lone surrogate costs one event (counted and named), never the rest of the trace; an
output is never written over its own input unless it is an exact copy; the caches never answer
for a trace that changed, nor print an entry that is not a result of that trace."""

import gzip
import json
import os
import re

import pytest

from tests.helpers.bounded import bounded, one_line_error
from tests.helpers.traces import real_trace

SOURCE = "kineto-rtx5080-mlp-train-eager.json.gz"


def _text():
    return gzip.decompress(real_trace(SOURCE).read_bytes())


def _analyze(path, *extra):
    r = bounded("analyze", "--json", *extra, path, seconds=60, mb=1024)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def _activities(summary):
    return sum(c["count"] for c in summary["classes"].values())


def _kernel_dur(text, share):
    """(start, end) of the `dur` number of the first kernel event past `share` of the text."""
    at = text.index(b'"cat": "kernel"', int(len(text) * share))
    m = re.compile(rb'"dur": ([-0-9.e]+)').search(text, at)
    return m.start(1), m.end(1)


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_non_finite_duration_costs_one_kernel_not_the_trace(tmp_path, value):
    text = _text()
    clean = tmp_path / "clean.json"
    clean.write_bytes(text)
    a, b = _kernel_dur(text, 0.5)
    bad = tmp_path / "bad.json"
    bad.write_bytes(text[:a] + value + text[b:])
    before, after = _analyze(clean, "--no-cache"), _analyze(bad, "--no-cache")
    assert _activities(after) == _activities(before) - 1
    assert after["launches"]["count"] == before["launches"]["count"]  # the CPU side is whole
    warn = [w for w in after["warnings"] if "non-finite" in w]
    assert len(warn) == 1 and "1 non-finite number" in warn[0] and f"byte {a}" in warn[0]
    assert any("skipped 1 events" in w for w in after["warnings"])


def test_a_lone_surrogate_costs_nothing_but_the_character(tmp_path):
    text = _text()
    at = text.index(b'"name": "', int(len(text) * 0.5)) + 9
    bad = tmp_path / "surrogate.json"
    bad.write_bytes(text[:at] + b"\\ud800" + text[at:])
    clean = tmp_path / "clean.json"
    clean.write_bytes(text)
    before, after = _analyze(clean, "--no-cache"), _analyze(bad, "--no-cache")
    assert _activities(after) == _activities(before)
    assert after["temporal"] == before["temporal"]
    assert any("1 lone surrogate escape" in w and "U+FFFD" in w for w in after["warnings"])


def test_annotate_never_replaces_its_input_with_a_partial_copy(tmp_path):
    text = _text()
    path = tmp_path / "t.json"
    path.write_bytes(text[: len(text) // 2])  # cut short
    before = path.read_bytes()
    line = one_line_error(bounded("annotate", path, "-o", path))
    assert "not written over its own input" in line and "cut short" in line
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temporary file left beside it


def test_annotate_over_its_input_is_safe_when_the_copy_is_exact(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(_text())
    r = bounded("annotate", path, "-o", path)
    assert r.returncode == 0, r.stderr
    assert _activities(_analyze(path, "--no-cache")) > 0


def _big_trace(tmp_path):
    """The trace padded past the fully hashed size (32 MB) with a metadata key after the events."""
    text = _text()
    body = text.rstrip()[:-1] + b', "padding": "' + b"x" * (34 << 20) + b'"}'
    path = tmp_path / "big.json"
    path.write_bytes(body)
    return path, body


def test_a_trace_changed_in_the_middle_with_its_mtime_restored_is_analysed_again(tmp_path):
    path, body = _big_trace(tmp_path)
    env_cache = {**os.environ, "PROFKIT_CACHE_DIR": str(tmp_path / "cache")}
    first = json.loads(bounded("analyze", "--json", path, env=env_cache).stdout)
    st = os.stat(path)
    mid = body.index(b'"cat": "kernel"', len(body) // 2 - (34 << 20) // 2)
    m = re.compile(rb'"dur": ([0-9.]+)').search(body, mid)
    longer = b"9" * (m.end(1) - m.start(1))  # same length: the size stays
    path.write_bytes(body[:m.start(1)] + longer + body[m.end(1):])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = json.loads(bounded("analyze", "--json", path, env=env_cache).stdout)
    assert again["temporal"]["busy_us"] > first["temporal"]["busy_us"]


def test_a_kept_result_that_is_not_of_this_trace_is_recomputed(tmp_path):
    path, _ = _big_trace(tmp_path)
    cache = tmp_path / "cache"
    env = {**os.environ, "PROFKIT_CACHE_DIR": str(cache)}
    good = bounded("analyze", "--json", path, env=env).stdout
    (entry,) = cache.glob("*.result.json")
    forged = json.loads(entry.read_bytes())
    forged["temporal"]["busy_pct"] = 999
    entry.write_text(json.dumps(forged))
    r = bounded("analyze", "--json", path, env=env)
    assert r.stdout == good
    assert "discarding" in r.stderr and len(r.stderr.strip().splitlines()) == 1  # one line, no quoted source
    entry.write_text(json.dumps({**json.loads(good), "trace": "/elsewhere/other.json"}))
    assert bounded("analyze", "--json", path, env=env).stdout == good
