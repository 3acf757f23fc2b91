"""`profkit serve`: the reports folder over http on 127.0.0.1, and nothing else.

The "Open in Perfetto" button must fetch the trace beside a report, which
browsers forbid from file:// pages; this tiny server makes that work without
exposing anything outside the folder:
- it binds to 127.0.0.1 only (no option to change that);
- paths with a ".." segment, hidden files and anything whose real path (after
  symlinks) leaves the folder are refused;
- a Host header other than 127.0.0.1/localhost is refused, so a web page
  cannot reach the server by DNS rebinding.
"""

import functools
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from profkit.errors import ProfkitError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class _Handler(SimpleHTTPRequestHandler):
    root: Path  # set per server by make_server

    def _allowed(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost"):
            return HTTPStatus.FORBIDDEN, "only 127.0.0.1 / localhost may be used as the host"
        path = unquote(urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if any(p == ".." or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
            return HTTPStatus.FORBIDDEN, "path outside the served folder"
        real = Path(self.translate_path(self.path)).resolve()
        if real != self.root and self.root not in real.parents:
            return HTTPStatus.FORBIDDEN, "path outside the served folder"
        return None, None

    def _gate(self):
        status, why = self._allowed()
        if status:
            self.send_error(status, why)
            return False
        return True

    def do_GET(self):
        if self._gate():
            super().do_GET()

    def do_HEAD(self):
        if self._gate():
            super().do_HEAD()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)


def make_server(root, port=DEFAULT_PORT, verbose=False):
    """An http server for `root` on 127.0.0.1:`port` (0 picks a free port); not started."""
    root = Path(root)
    if not root.is_dir():
        raise ProfkitError(f"{root} is not a folder (run `profkit report` first, or name the reports folder)")
    real = root.resolve()
    handler = type("Handler", (_Handler,), {"root": real})
    try:
        server = ThreadingHTTPServer((HOST, port), functools.partial(handler, directory=str(real)))
    except OSError as e:
        raise ProfkitError(f"cannot listen on {HOST}:{port}: {e.strerror or e} (try --port 0 for a free port)") from None
    server.verbose = verbose
    return server


def url_of(server, relpath=""):
    """The URL of a file under the served folder (relative path with / separators)."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/" + quote(relpath)
