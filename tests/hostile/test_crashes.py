"""Inputs that used to crash (exit 1, "internal error") or print numbers no measurement can give:
each is now analysed or refused in one line with exit 2, within bounds; numbers stay physical."""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.bounded import bounded, one_line_error
from tests.helpers.traces import real_trace

SOURCE = "kineto-rtx5080-mlp-train-eager.json.gz"


def _doc():
    return json.loads(gzip.decompress(real_trace(SOURCE).read_bytes()))


def _write(tmp_path, doc, name="t.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _physical(summary):
    """Every duration and wait non-negative, every share of the window in [0, 100]."""
    t = summary["temporal"]
    assert 0 <= t["busy_pct"] <= 100 and 0 <= t["idle_pct"] <= 100
    assert t["busy_us"] >= 0 and t["idle_us"] >= 0 and t["compute_us"] >= 0 and t["non_compute_us"] >= 0
    for s in summary["streams"]:
        assert min(s["busy_us"], s["idle_us"], s["host_wait_us"], s["kernel_wait_us"], s["other_us"]) >= 0, s
    assert summary["gaps"]["total_us"] >= 0


def _analyze_ok(path):
    r = bounded("analyze", "--json", "--no-cache", path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    _physical(summary)
    return summary


def _kernels(doc):
    return [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]


def test_a_step_number_no_integer_holds_is_not_a_step(tmp_path):
    doc = _doc()
    for e in doc["traceEvents"]:
        if str(e.get("name", "")).startswith("ProfilerStep#"):
            e["name"] = "ProfilerStep#" + "9" * 23
    assert any("no ProfilerStep" in w for w in _analyze_ok(_write(tmp_path, doc))["warnings"])


def test_durations_of_the_smallest_float_are_analysed(tmp_path):
    doc = _doc()
    for e in doc["traceEvents"]:
        if "dur" in e:
            e["dur"] = 5e-324
    assert _analyze_ok(_write(tmp_path, doc))["temporal"]["busy_pct"] >= 0


def test_device_properties_that_are_not_objects_are_ignored(tmp_path):
    doc = _doc()
    doc["deviceProperties"] = ["a", 5, None]
    assert _analyze_ok(_write(tmp_path, doc))["device"]["kind"] == "cuda"


@pytest.mark.parametrize("how", ["huge", "overlap", "duplicate", "e308"])
def test_impossible_kernels_give_no_impossible_numbers(tmp_path, how):
    doc = _doc()
    k = _kernels(doc)
    if how == "huge":
        k[5]["dur"] = 1e18
    elif how == "overlap":
        k[6]["ts"] = k[5]["ts"] + 0.1  # starts inside the kernel before it on the same stream
    elif how == "duplicate":
        doc["traceEvents"].append(dict(k[10]))
    else:
        k[3]["dur"], k[4]["ts"] = 1e308, 1e308
    summary = _analyze_ok(_write(tmp_path, doc))
    if how in ("huge", "e308"):
        assert any("impossible ts/dur" in w for w in summary["warnings"])


def test_a_byte_order_mark_before_the_trace_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + gzip.decompress(real_trace(SOURCE).read_bytes()))
    plain = tmp_path / "plain.json"
    plain.write_bytes(path.read_bytes()[3:])
    assert _analyze_ok(path)["temporal"] == _analyze_ok(plain)["temporal"]


@pytest.mark.parametrize("trace", [5, None, "/etc/passwd", "../outside.json.gz", ""])
def test_a_run_manifest_names_traces_inside_its_folder_only(tmp_path, trace):
    manifest = {"schema": "profkit.run/1", "command": "x", "model": "gpt2", "device": {}, "dtype": "float32",
                "shapes": {}, "created": "2026-01-01T00:00:00+00:00", "peaks": None,
                "modes": [{"mode": "eager", "trace": trace, "sidecar": "t.meta.json", "timing": {}, "noise": None}]}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(manifest))
    line = one_line_error(bounded("report", path, "-o", tmp_path / "r.html"))
    assert "relative to the manifest's folder" in line or "malformed run manifest" in line


def test_sql_caps_its_rows_and_says_so(tmp_path):
    path = real_trace(SOURCE)
    r = bounded("sql", path, "SELECT * FROM gpu", "--format", "csv", "--limit", "5")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 6  # header + 5 rows
    assert "showed the first 5 rows" in r.stderr
    everything = bounded("sql", path, "SELECT count(*) AS n FROM gpu", "--format", "json")
    n = json.loads(everything.stdout)[0]["n"]
    assert len(bounded("sql", path, "SELECT * FROM gpu", "--format", "csv", "--limit", "0")
               .stdout.strip().splitlines()) == n + 1


def _serve(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "index.html").write_text("<p>ok</p>" * 20000)
    proc = subprocess.Popen([sys.executable, "-m", "profkit", "serve", folder, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    return proc, port


def _get(port, path="/index.html", timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_the_server_answers_while_hundreds_of_connections_hang(tmp_path):
    proc, port = _serve(tmp_path)
    try:
        hanging = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
        t = time.perf_counter()
        assert _get(port, timeout=30).startswith(b"HTTP/1.0 200")
        assert time.perf_counter() - t < 30
        for s in hanging:
            s.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_clients_that_go_away_leave_no_tracebacks(tmp_path):
    proc, port = _serve(tmp_path)
    try:
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.sendall(b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        assert _get(port).startswith(b"HTTP/1.0 200")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err[-2000:]


def test_open_stopped_by_sigterm_leaves_no_temporary_folder(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "profkit", "open", "--no-browser", real_trace(SOURCE)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().startswith("http://127.0.0.1:")
    assert list(Path(tmp_path).glob("profkit-open-*"))
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert not list(Path(tmp_path).glob("profkit-open-*"))
