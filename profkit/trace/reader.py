"""Stream a Chrome trace file as blocks of event text.

A trace is `{"...": ..., "traceEvents": [ev, ev, ...], "...": ...}` or a bare
`[ev, ...]`. Parsing the whole document at once costs about 1 KB of Python
objects per event (HTA's approach), so a 1 GB trace needs many GB. Instead we
decompress in blocks and cut the event array at object boundaries into blocks
of whole events (`ev,ev,...`) that `decode.decode_block` turns into columns,
here or in a worker process. A cut is proposed at `}` followed by `,{` or `]`.
A `},{` inside a string or a nested array makes a block that is not valid JSON:
the decoder says so, the block is pushed back, and from then on every cut is
accepted only if the text before it is valid JSON (checked at C speed by
msgspec), so such text can never split an event. Raw newlines cannot occur
inside JSON strings, which is what keeps the proposals cheap.

Hostile input is answered in time linear in its size and memory bounded
independently of it: at most MAX_HEAD bytes are buffered before the event array
(or after it), at most MAX_EVENT bytes without a valid cut (an event larger
than that is an error), the key is searched for only in text not yet searched,
and a failed cut is retried only once the buffer has doubled.
"""

import codecs
import gzip
import os
import re
import zlib
from pathlib import Path

import orjson

from profkit.errors import ProfkitError
from profkit.trace.decode import as_array, check_block

BLOCK = 4 << 20  # bytes of decompressed text cut at a time
MAX_HEAD = 64 << 20  # bytes of top-level keys buffered before or after the event array
MAX_EVENT = 64 << 20  # bytes buffered without a single event boundary
_CUT = re.compile(rb"\}\s*(?=,\s*\{|\])")
_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_KEY_SPAN = 256  # the key with generous whitespace: how far back a new search starts
_WS = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark some editors and Windows tools write first
_LEAD = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")  # what may stand before the document
_SKIP = re.compile(rb"[ \t\r\n]*(?:,[ \t\r\n]*)?")
_TRIES = 4  # cut candidates tried per attempt, last first


_SPAN_WINDOW = 16 << 10  # bytes read around each cut of a plain file fed to workers (Span)
# Bytes JSON never allows raw (RFC 8259: control characters must be escaped inside strings, and
# only tab, newline and carriage return are whitespace outside them).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
codecs.register_error("profkit.qmark", lambda e: ("?" * (e.end - e.start), e.end))


# Non-finite numbers (Python's json.dump writes NaN and Infinity by default) where a value stands,
# and escapes of one half of a UTF-16 surrogate pair: JSON has no such values, so each would stop the parse.
_NONFINITE = re.compile(rb"(?<=[:,\[])(\s*)(-?Infinity|NaN)(?=\s*[,\]}])")
_LONE_SURROGATE = re.compile(rb"(?<!\\)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|"
                             rb"(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)\\u[dD][c-fC-F][0-9a-fA-F]{2}")


_TEXT_RULE = "JSON allows neither, so the names that held them read differently"


def repair(text):
    """(text with every raw control character made a space, every byte of invalid UTF-8 a "?",
    every non-finite number an empty list (not a number: its event is skipped and counted, or its
    field read as missing) and every lone surrogate escape U+FFFD, the same length; [(what was
    found, what each became, first index, what that means)] of the repairs)."""
    notes = []
    # (The regexes only run where their literals occur: a byte search is far cheaper than a lookbehind
    # tried at every position of a 64 MB buffer.)
    found = [m.start(2) for m in _NONFINITE.finditer(text)] if b"NaN" in text or b"Infinity" in text else []
    if found:
        text = _NONFINITE.sub(lambda m: m.group(1) + b"[]" + b" " * (len(m.group(2)) - 2), text)
        notes.append((f"{len(found)} non-finite number{'s' * (len(found) != 1)} (NaN or Infinity)", "a non-number",
                      found[0], "JSON has no such numbers; an event whose ts or dur it was is skipped and counted, "
                      "any other field reads as missing"))
    found = [m.start() for m in _LONE_SURROGATE.finditer(text)] if b"\\ud" in text or b"\\uD" in text else []
    if found:
        text = _LONE_SURROGATE.sub(rb"\\ufffd", text)
        notes.append((f"{len(found)} lone surrogate escape{'s' * (len(found) != 1)}", "U+FFFD", found[0],
                      "half a UTF-16 pair is no character, so the names that held them read differently"))
    found = [m.start() for m in _CONTROL.finditer(text)]
    if found:
        text = _CONTROL.sub(b" ", text)
        notes.append((f"{len(found)} raw control character{'s' * (len(found) != 1)}", "a space", found[0], _TEXT_RULE))
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as e:
        decoded = text.decode("utf-8", "surrogateescape")
        bad = sum(1 for c in decoded if "\udc80" <= c <= "\udcff")
        text = decoded.encode("utf-8", "profkit.qmark")
        notes.append((f"{bad} byte{'s' * (bad != 1)} of invalid UTF-8", '"?"', e.start, _TEXT_RULE))
    return text, notes


class Span:
    """A block of a plain JSON file that the reader did not read: its offset and length.

    A worker reads the text itself (pool.decode_range); `bytes(span)` reads it here
    when it is needed after all (pushed back, or decoded in this process)."""

    __slots__ = ("path", "offset", "length")

    def __init__(self, path, offset, length):
        self.path, self.offset, self.length = path, offset, length

    def __len__(self):
        return self.length

    def __bytes__(self):
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), self.length, self.offset)


class Truncated(Exception):
    """The file ended (or its compression broke) before the event array closed."""


def _open(path: Path):
    """The file, decompressing if it is gzip, and whether it is plain (offsets are file offsets)."""
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
        return gzip.GzipFile(fileobj=f, mode="rb"), False
    return f, True


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


def _mb(n):
    return f"{n >> 20} MB"


class EventStream:
    """Iterate `blocks()` for event text; `meta` is complete afterwards.

    `meta` holds every top-level key but traceEvents. `truncated` is set (with a
    reason) when the file ended early but some events could still be read.
    `offset` is where the block just given out starts in the file when the file
    is plain JSON (`plain`), so another process can read it there itself; None
    for a gzip file's blocks (offsets in its decompressed text) or a document
    read whole.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.meta = {}
        self.truncated = None
        self.repaired = []  # (what was found, what each became, first byte offset in the JSON text, what it means)
        self.plain = False
        self.offset = None
        self._buf = bytearray()
        self._pos = 0  # offset of the buffer's first byte in the (decompressed) text
        self._given_end = 0  # where the last block given out ends

    def blocks(self):
        """Blocks of event text; a None is a checkpoint: decode (or push back) every block
        given out so far before asking for the next."""
        f, self.plain = _open(self.path)
        try:
            yield from self._blocks(f)
        finally:
            f.close()
            self._buf.clear()
            self._done = True

    def batches(self):
        """Lists of the events as parsed dicts, block by block (for tools that rewrite a trace)."""
        for block in self.blocks():
            if block is None:
                continue
            try:
                yield orjson.loads(as_array(block))
            except orjson.JSONDecodeError:
                self.push_back([block])

    def has_pushed_back(self):
        """Whether blocks were pushed back after blocks() ended (resume() yields them)."""
        return self._done and bool(self._buf)

    def resume(self):
        """After blocks() ended: the blocks pushed back since, cut again (checked)."""
        yield from self._events(self._buf, lambda: None, lambda: True)

    def _events(self, buf, more, at_eof):
        """Cut the event array at the start of buf into blocks; True once its `]` is read,
        False when the input ends first."""
        retry_at = 0  # buffer length at which a failed cut is tried again
        while True:
            # A block keeps the separator before it (`, ` after the previous cut): given back
            # by push_back, blocks join into exactly the text they were cut from.
            start = _SKIP.match(buf, 0).end()
            end = buf[start:start + 1] == b"]"
            eof = at_eof()
            cut = None if end else self._cut(buf, start) if eof or len(buf) >= retry_at else None
            if (end or cut is None and eof) and not self.validate:
                # The array seems to end here: unless the blocks given out so far decode (and
                # nothing is pushed back), an unchecked cut may have landed inside an event.
                yield None
                if self.validate:
                    continue
            if end:
                del buf[:start + 1]
                self._pos += start + 1
                return True
            if cut is None and self.validate and self._repair(buf, start):
                continue
            if cut is None:
                if eof:
                    self._check_malformed(buf, start)
                    if self.truncated is None:
                        self.truncated = f"{self.path}: the event array never closes (file cut short?)"
                    if buf.strip(b" \t\r\n,") and not self._seen_events:
                        raise ProfkitError(f"{self.path}: not valid JSON (the event array is incomplete)")
                    return False
                if len(buf) > MAX_EVENT:
                    raise ProfkitError(f"{self.path}: no event boundary in {_mb(MAX_EVENT)} of text (an event "
                                       f"larger than {_mb(MAX_EVENT)}, or not valid JSON)")
                if len(buf) >= retry_at:
                    retry_at = 2 * len(buf)
                more()
                continue
            retry_at = 0
            self._seen_events = True
            with memoryview(buf) as view:
                block = bytes(view[:cut])  # one copy (bytes(buf[:cut]) makes two)
            del buf[:cut]
            self.offset = self._pos if self.plain else None
            self._pos = self._given_end = self._pos + cut
            yield block

    def _blocks(self, f):
        blocks = _blocks(f, self.path)
        buf = self._buf
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
        searched = 0
        while True:
            start = _LEAD.match(buf).end()
            if start < len(buf) and buf[start:start + 1] == b"[":
                pos, bare = start + 1, True
                break
            m = _KEY.search(buf, max(0, searched - _KEY_SPAN))
            if m:
                head = bytes(buf[_LEAD.match(buf).end():m.start()]).strip(_WS).rstrip(b",").rstrip(_WS)
                self.meta = self._parse_head(head)
                pos, bare = m.end(), False
                break
            searched = len(buf)
            if eof:
                yield from self._whole(bytes(buf))
                return
            if len(buf) > MAX_HEAD:
                raise ProfkitError(f"{self.path}: no traceEvents array in the first {_mb(MAX_HEAD)} "
                                   "(not a PyTorch profiler trace?)")
            more()
        del buf[:pos]
        self._pos = pos
        if self.sparse and self.plain and not eof:
            yield from self._spans(f, buf)
            f.seek(self._pos + len(buf))  # read on from where the buffer's text ends

        if not (yield from self._events(buf, more, lambda: eof)):
            return
        # Suffix: more top-level keys after the event array.
        while not eof:
            if len(buf) > MAX_HEAD:
                raise ProfkitError(f"{self.path}: more than {_mb(MAX_HEAD)} after the event array")
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
    _done = False
    validate = False  # check each cut before yielding (set for good by push_back)
    sparse = False  # a plain file's blocks may be given out as Spans (set when workers read them)

    def _spans(self, f, buf):
        """Spans of a plain file, each cut at the last proposal in the 16 KB before the next
        4 MB, reading only those 16 KB: the workers read the text, which they decode (and
        so check) anyway. Stops at the file's last 8 MB, at a stretch without a proposal, or
        once a block was pushed back; the buffered cutting goes on from there."""
        buf.clear()
        fd = f.fileno()
        size = os.fstat(fd).st_size
        while not self.validate and self._pos + 2 * BLOCK <= size:
            target = self._pos + BLOCK
            lo = max(self._pos, target - _SPAN_WINDOW)
            cut = None
            for m in _CUT.finditer(os.pread(fd, target - lo, lo)):
                cut = m.start() + 1
            if cut is None:
                return
            length = lo + cut - self._pos
            self._seen_events = True
            self.offset = self._pos
            self._pos = self._given_end = self._pos + length
            yield Span(self.path, self.offset, length)

    def _repair(self, buf, start):
        """Repair buf[start:] in place (repair()); whether anything changed. Only the text up to
        the last `}` is touched, so no UTF-8 sequence cut at the buffer's end is taken for bad."""
        end = buf.rfind(b"}", start) + 1
        if end <= start:
            return False
        fixed, notes = repair(bytes(buf[start:end]))
        if not notes:
            return False
        buf[start:end] = fixed
        self._note(notes, self._pos + start)
        return True

    def _note(self, notes, base):
        for what, made, first, why in notes:
            self.repaired.append((what, made, base + first, why))

    def _check_malformed(self, buf, start):
        """At the end of the input with text left that no cut could take: a file cut short fails
        at its end; text that fails well before it is malformed, and is said so (not cut)."""
        text = bytes(buf[start:])
        ok = check_block(text.rstrip(_WS + b",]}"))
        if isinstance(ok, int) and ok is not True and len(text) - ok > 64:
            at = self._pos + start + ok
            near = text[max(0, ok - 20):ok + 20]
            raise ProfkitError(f"{self.path}: not valid JSON at byte {at} of its JSON text (near {near!r}); "
                               "the events after it cannot be read")

    def push_back(self, blocks):
        """Give back blocks (in order) the decoder found malformed: they are cut again, checking
        every cut from now on (a `},{` in a string or a nested array fooled the cheap cut).
        While blocks() runs it yields them next; once it has ended, resume() does."""
        text = b"".join(map(bytes, blocks))
        self._pos = self._given_end = self._given_end - len(text)
        text, notes = repair(text)  # what makes a block fail for good: raw control bytes, bad UTF-8
        self._note(notes, self._pos)
        if self._done:
            self._buf[:] = text + b"]"
        else:
            self._buf[0:0] = text
        self.validate = True

    def _parse_head(self, head: bytes):
        if not head.startswith(b"{"):
            raise ProfkitError(f"{self.path}: not a Chrome trace (expected a JSON object or array)")
        if head == b"{":
            return {}
        obj = _parse_obj(head + b"}", "the header before traceEvents", self.path)
        return obj if isinstance(obj, dict) else {}

    def _cut(self, buf, start):
        """The end of the largest valid prefix of buf found near its end, or None.

        Unless `validate` is set, the last proposal is taken unchecked: the decoder
        parses the block anyway and pushes it back if it is not valid JSON."""
        # Proposals in the last 16 KB (unchecked: the last is enough) or 256 KB, else anywhere.
        for span in ((256 << 10,) if self.validate else (16 << 10, 256 << 10)) + (len(buf),):
            window = max(start, len(buf) - span)
            cands = [m.start() + 1 for m in _CUT.finditer(buf, window)]
            if cands or window == start:
                break
        if not self.validate:
            return cands[-1] if cands else None
        # Last candidate first; a failed parse says where the syntax breaks, and every
        # candidate past that point fails the same way (e.g. `},{` in the object after the
        # event array), so the next try is the last candidate before it.
        view, ok, tries = memoryview(buf), False, 0
        try:
            while cands and tries < _TRIES:
                end = cands.pop()
                ok = check_block(view[start:end])
                tries += 1
                if ok is None:
                    break
                if ok is True:
                    return end
                while cands and cands[-1] > start + ok + 1:
                    cands.pop()
        finally:
            view.release()
        if ok is None:
            raise ProfkitError(f"{self.path}: JSON nested too deeply to read")
        return None

    def _whole(self, data: bytes):
        """Fallback for documents without a streamable event array."""
        if self.truncated:
            raise ProfkitError(self.truncated)
        data = data.removeprefix(_BOM)
        if not data.strip():
            raise ProfkitError(f"{self.path}: empty file")
        doc = _parse_obj(data, "the file", self.path)
        if isinstance(doc, list):
            events = doc
        elif not isinstance(doc, dict) or "traceEvents" not in doc:
            raise ProfkitError(f"{self.path}: not a PyTorch profiler trace (no traceEvents)")
        else:
            events = doc.pop("traceEvents")
            self.meta = doc
        if not isinstance(events, list):
            raise ProfkitError(f"{self.path}: traceEvents is not a list")
        if events:
            yield orjson.dumps(events)[1:-1]
