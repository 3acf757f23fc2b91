"""Stream a Chrome trace file as batches of parsed events.

A trace is `{"...": ..., "traceEvents": [ev, ev, ...], "...": ...}` or a bare
`[ev, ...]`. Parsing the whole document at once costs about 1 KB of Python
objects per event (HTA's approach), so a 1 GB trace needs many GB. Instead we
decompress in blocks, cut the event array at object boundaries and parse one
block of events at a time with orjson; the caller keeps only the columns it
needs. A cut is proposed at `}` followed by `,{` or `]`; it is accepted only if
the block before it parses, so a `},{` inside a string can never split an event
(a block ending inside a string or object does not parse). Raw newlines cannot
occur inside JSON strings, which is what keeps the proposals cheap.
"""

import gzip
import re
import zlib
from pathlib import Path

import orjson

from profkit.errors import ProfkitError

BLOCK = 4 << 20  # bytes of decompressed text parsed at a time
_CUT = re.compile(rb"\}\s*(?=,\s*\{|\])")
_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_WS = b" \t\r\n"


class Truncated(Exception):
    """The file ended (or its compression broke) before the event array closed."""


def _open(path: Path):
    try:
        f = open(path, "rb")
    except IsADirectoryError:
        raise ProfkitError(f"{path} is a directory, not a trace file") from None
    except FileNotFoundError:
        raise ProfkitError(f"{path}: no such file") from None
    except OSError as e:
        raise ProfkitError(f"cannot read {path}: {e.strerror or e}") from None
    magic = f.read(2)
    f.seek(0)
    if magic == b"\x1f\x8b":  # gzip, whatever the file is called
        return gzip.GzipFile(fileobj=f, mode="rb")
    return f


def _blocks(f, path):
    """Yield decompressed blocks; a damaged or cut compressed stream raises Truncated."""
    while True:
        try:
            data = f.read(BLOCK)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise Truncated(f"{path}: compressed data is damaged or cut short ({e})") from None
        if not data:
            return
        yield data


def _parse_obj(text: bytes, what: str, path):
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProfkitError(f"{path}: {what} is not valid JSON") from None
    return obj


class EventStream:
    """Iterate `batches()` for lists of event dicts; `meta` is complete afterwards.

    `meta` holds every top-level key but traceEvents. `truncated` is set (with a
    reason) when the file ended early but some events could still be read.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.meta = {}
        self.truncated = None

    def batches(self):
        f = _open(self.path)
        try:
            yield from self._batches(f)
        finally:
            f.close()

    def _batches(self, f):
        blocks = _blocks(f, self.path)
        buf = bytearray()
        eof = False

        def more():
            nonlocal eof
            try:
                buf.extend(next(blocks))
            except StopIteration:
                eof = True
            except Truncated as t:
                eof = True
                self.truncated = str(t)

        # Prefix: up to the opening bracket of the event array.
        while True:
            start = _skip_ws(buf, 0)
            if start < len(buf) and buf[start:start + 1] == b"[":
                pos, bare = start + 1, True
                break
            m = _KEY.search(buf)
            if m:
                head = bytes(buf[:m.start()]).strip(_WS).rstrip(b",").rstrip(_WS)
                self.meta = self._parse_head(head)
                pos, bare = m.end(), False
                break
            if eof:
                yield from self._whole(bytes(buf))
                return
            more()
        del buf[:pos]

        # Events: parse everything before the last acceptable cut, keep the rest.
        while True:
            i = _skip_ws(buf, 0)
            if i < len(buf) and buf[i] == ord(","):
                i = _skip_ws(buf, i + 1)
            del buf[:i]
            if buf[:1] == b"]":
                del buf[:1]
                break
            cut = self._cut(buf, eof)
            if cut is None:
                if eof:
                    if self.truncated is None:
                        self.truncated = f"{self.path}: the event array never closes (file cut short?)"
                    if buf.strip() and not self._seen_events:
                        raise ProfkitError(f"{self.path}: not valid JSON (the event array is incomplete)")
                    return
                more()
                continue
            end, events = cut
            self._seen_events = True
            del buf[:end]
            yield events

        # Suffix: more top-level keys after the event array.
        while not eof:
            more()
        tail = bytes(buf).strip(_WS)
        if bare:
            if tail:
                raise ProfkitError(f"{self.path}: unexpected data after the event array")
            return
        if self.truncated:
            return
        tail = tail.lstrip(b",").strip(_WS)
        if tail != b"}":
            extra = _parse_obj(b"{" + tail, "the end of the file", self.path)
            if isinstance(extra, dict):
                self.meta.update(extra)

    _seen_events = False

    def _parse_head(self, head: bytes):
        if not head.startswith(b"{"):
            raise ProfkitError(f"{self.path}: not a Chrome trace (expected a JSON object or array)")
        if head == b"{":
            return {}
        obj = _parse_obj(head + b"}", "the header before traceEvents", self.path)
        return obj if isinstance(obj, dict) else {}

    def _cut(self, buf, eof):
        """Return (end, events) for the largest parseable prefix of buf, or None."""
        window = max(0, len(buf) - (256 << 10))
        cands = [m.start() + 1 for m in _CUT.finditer(buf, window)]
        if not cands and window:
            cands = [m.start() + 1 for m in _CUT.finditer(buf)]
        for end in reversed(cands[-16:]):
            try:
                events = orjson.loads(b"[" + buf[:end] + b"]")
            except orjson.JSONDecodeError:
                continue
            return end, events
        return None

    def _whole(self, data: bytes):
        """Fallback for documents without a streamable event array."""
        if self.truncated:
            raise ProfkitError(self.truncated)
        if not data.strip():
            raise ProfkitError(f"{self.path}: empty file")
        doc = _parse_obj(data, "the file", self.path)
        if isinstance(doc, list):
            yield doc
            return
        if not isinstance(doc, dict) or "traceEvents" not in doc:
            raise ProfkitError(f"{self.path}: not a PyTorch profiler trace (no traceEvents)")
        events = doc.pop("traceEvents")
        self.meta = doc
        if not isinstance(events, list):
            raise ProfkitError(f"{self.path}: traceEvents is not a list")
        yield events


def _skip_ws(buf, i):
    n = len(buf)
    while i < n and buf[i] in _WS:
        i += 1
    return i
