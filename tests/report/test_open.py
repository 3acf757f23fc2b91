"""`profkit open`: the traces and their annotated copies, served on 127.0.0.1 with a page that hands
them to ui.perfetto.dev (no real browser here: no internet)."""

import gzip
import json
import subprocess
import sys
import threading
import urllib.request

import pytest

from profkit.report.opener import PAGE, open_server
from profkit.trace import load
from tests.helpers.runs import write_run
from tests.helpers.traces import real_trace


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


@pytest.fixture
def opened(tmp_path):
    trace = real_trace("kineto-h100-transformer-train-tiny.json.gz")
    server, url, staged = open_server([trace], tmp_path / "served", port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield trace, server, url, staged
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_serves_the_trace_and_its_annotated_copy_on_loopback(opened, tmp_path):
    trace, server, url, staged = opened
    assert server.server_address[0] == "127.0.0.1"
    assert url == f"http://127.0.0.1:{server.server_address[1]}/{PAGE}"
    [t] = staged
    assert t["original"] == "kineto-h100-transformer-train-tiny.json.gz"
    status, body = fetch(url.replace(PAGE, t["original"]))
    assert status == 200 and body == trace.read_bytes()  # the trace itself, byte for byte
    status, body = fetch(url.replace(PAGE, t["annotated"]))
    assert status == 200
    annotated = json.loads(gzip.decompress(body))
    names = {e.get("name") for e in annotated["traceEvents"] if e.get("ph") == "M"}
    assert "process_name" in names
    assert any(str(e.get("name", "")).startswith("idle: ") for e in annotated["traceEvents"])
    # The annotated copy loads like the original, with every original kernel still there.
    (tmp_path / "a.json.gz").write_bytes(body)
    assert len(load(tmp_path / "a.json.gz").gpu) >= len(load(trace).gpu)


def test_page_uses_perfettos_postmessage_protocol(opened):
    _, _, url, staged = opened
    status, body = fetch(url)
    page = body.decode()
    assert status == 200
    assert 'var ORIGIN = "https://ui.perfetto.dev"' in page
    assert 'win.postMessage("PING", ORIGIN)' in page and 'evt.data !== "PONG"' in page
    assert "{ perfetto: { buffer: buffer, title: title, fileName: fileName } }" in page
    for t in staged:
        assert f'data-url="{t["annotated_url"]}"' in page and f'data-url="{t["original_url"]}"' in page
    assert "never leaves this machine" in page


def test_cli_prints_the_url_and_serves_a_run(tmp_path):
    run = tmp_path / "traces"
    write_run(run, ["eager", "compiled"])
    p = subprocess.Popen([sys.executable, "-m", "profkit", "open", str(run / "run.json"), "--no-browser"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = p.stdout.readline().strip()
        lines = [p.stdout.readline().strip() for _ in range(2)]
        assert url.startswith("http://127.0.0.1:") and url.endswith(f"/{PAGE}")
        assert [line.split(":")[0] for line in lines] == ["tiny-eager-b1-s8", "tiny-compiled-b1-s8"]
        status, body = fetch(url)
        assert status == 200 and b"tiny-compiled-b1-s8 (profkit tracks)" in body
        status, body = fetch(url.replace(PAGE, "tiny-eager-b1-s8.json.gz"))
        assert body == (run / "tiny-eager-b1-s8.json.gz").read_bytes()
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
    assert "open that URL in a browser" in err and "ui.perfetto.dev" in err
