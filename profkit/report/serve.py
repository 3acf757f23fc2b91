"""`profkit serve`: the reports folder over http on 127.0.0.1, and nothing else.

The "Open in Perfetto" button must fetch the trace beside a report, which
browsers forbid from file:// pages; this tiny server makes that work without
exposing anything outside the folder:
- it binds to 127.0.0.1 only (no option to change that);
- paths with a ".." segment, hidden files and anything whose real path (after
  symlinks) leaves the folder are refused;
- a Host header other than 127.0.0.1/localhost is refused, so a web page
  cannot reach the server by DNS rebinding;
- WORKERS threads serve only connections that have sent something; a connection
  silent for TIMEOUT_S seconds is closed, and at most PENDING wait, so half-open
  connections cannot stall it; a client that goes away mid-response is at most
  one line (with --verbose), never a traceback.
"""

import functools
import queue
import selectors
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from profkit.errors import ProfkitError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
WORKERS, PENDING = 16, 4096
TIMEOUT_S = 10


class _Server(HTTPServer):
    """An HTTPServer whose threads only ever serve connections that have sent something.

    Accepted connections wait in a selector watched by one thread; a connection that becomes
    readable goes to the pool of WORKERS threads, one that stays silent for TIMEOUT_S is closed,
    and past PENDING connections waiting the oldest is closed. Hundreds of half-open connections
    therefore hold no thread, and a real request is answered at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="profkit-serve")
        self._arrived = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = False
        threading.Thread(target=self._watch, name="profkit-serve-watch", daemon=True).start()

    def process_request(self, request, client_address):
        self._arrived.put((request, client_address))
        self._wake_w.send(b"x")

    def _watch(self):
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        waiting = {}  # socket -> (client address, deadline), oldest first
        while not self._closing:
            for key, _ in sel.select(timeout=1.0):
                if key.fileobj is self._wake_r:
                    self._wake_r.recv(4096)
                    continue
                sel.unregister(key.fileobj)
                self._pool.submit(self._serve, key.fileobj, waiting.pop(key.fileobj)[0])
            while not self._arrived.empty():
                request, address = self._arrived.get()
                if len(waiting) >= PENDING:
                    oldest = next(iter(waiting))
                    sel.unregister(oldest)
                    del waiting[oldest]
                    self.shutdown_request(oldest)
                waiting[request] = (address, time.monotonic() + TIMEOUT_S)
                sel.register(request, selectors.EVENT_READ)
            now = time.monotonic()
            for request in [r for r, (_, deadline) in waiting.items() if deadline < now]:
                sel.unregister(request)
                del waiting[request]
                self.shutdown_request(request)
        sel.close()

    def _serve(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (ConnectionError, TimeoutError)):
            if self.verbose:
                sys.stderr.write(f"profkit serve: {client_address[0]}: {type(e).__name__} (client went away)\n")
            return
        sys.stderr.write(f"profkit serve: {client_address[0]}: {type(e).__name__}: {e}\n")

    def server_close(self):
        self._closing = True
        self._wake_w.send(b"x")
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Handler(SimpleHTTPRequestHandler):
    root: Path  # set per server by make_server
    timeout = TIMEOUT_S  # on the socket: a request line or headers that do not come in time end the connection

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
        server = _Server((HOST, port), functools.partial(handler, directory=str(real)))
    except OSError as e:
        raise ProfkitError(f"cannot listen on {HOST}:{port}: {e.strerror or e} (try --port 0 for a free port)") from None
    server.verbose = verbose
    return server


def url_of(server, relpath=""):
    """The URL of a file under the served folder (relative path with / separators)."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/" + quote(relpath)
