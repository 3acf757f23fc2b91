"""`profkit serve`: 127.0.0.1 only, that folder only."""

import http.client
import os
import subprocess
import sys
import threading

import pytest

from profkit.errors import ProfkitError
from profkit.report.serve import make_server, url_of


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "reports"
    (root / "r_traces").mkdir(parents=True)
    (root / "r.html").write_text("<p>report</p>")
    (root / "r_traces" / "t.json.gz").write_bytes(b"\x1f\x8btrace")
    (root / ".r.html.tmp").write_text("half-written")
    (tmp_path / "secret.txt").write_text("not yours")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    server = make_server(root, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def get(server, path, host=None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{server.server_address[1]}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def test_binds_loopback_only(served):
    assert served.server_address[0] == "127.0.0.1"
    assert url_of(served, "r.html") == f"http://127.0.0.1:{served.server_address[1]}/r.html"


def test_serves_reports_and_their_traces(served):
    assert get(served, "/r.html") == (200, b"<p>report</p>")
    status, body = get(served, "/r_traces/t.json.gz")
    assert status == 200 and body == b"\x1f\x8btrace"


@pytest.mark.parametrize("path", ["/../secret.txt", "/r_traces/../../secret.txt", "/%2e%2e/secret.txt",
                                  "/r_traces/%2E%2E/%2e%2e/secret.txt", "/..%2fsecret.txt", "/link.txt",
                                  "/.r.html.tmp"])
def test_refuses_paths_outside_the_folder(served, path):
    status, body = get(served, path)
    assert status == 403
    assert b"not yours" not in body and b"half-written" not in body


def test_refuses_foreign_host_header(served):
    status, _ = get(served, "/r.html", host="attacker.example:80")
    assert status == 403


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(ProfkitError, match="not a folder"):
        make_server(tmp_path / "nope", port=0)


def test_cli_serve_prints_url_and_serves(tmp_path):
    (tmp_path / "r.html").write_text("<p>report</p>")
    proc = subprocess.Popen([sys.executable, "-m", "profkit", "serve", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert proc.stdout.readline().strip() == url + "r.html"
        port = int(url.rsplit(":", 1)[1].strip("/"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/r.html")
        assert conn.getresponse().read() == b"<p>report</p>"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)
