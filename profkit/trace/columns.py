"""Compact columns of a trace's tables, built block by block and merged in file order.

Only the fields analysis needs are kept, as numpy arrays (8 bytes a number, no
Python object per value) with every string interned once in a symbol table, so
memory grows with the number of events kept, not with the size of the JSON.
Category names of every PyTorch era are accepted: 2021 traces say "Kernel",
"Runtime", "Operator", "Memcpy", "Memset" and "external id".

`decode.decode_block` turns one block of event text into a `Part` (numbers and
block-local symbol codes); `Columns.extend` appends parts, translating their
codes into the trace-wide symbol tables.
"""

import numpy as np
import orjson

GPU_KINDS = ("kernel", "memcpy", "memset")
GPU_CATS = {"kernel": 0, "gpu_memcpy": 1, "memcpy": 1, "gpu_memset": 2, "memset": 2}
# Collective metadata PyTorch records on NCCL kernels (and record_param_comms ops).
COLLECTIVE_ARGS = ("Collective name", "In msg nelems", "Out msg nelems", "dtype", "Group size",
                   "Process Group Name", "Process Group Description")


def distinct_codes(values):
    """(codes array, distinct values in order of first appearance) of a list, in C loops."""
    seen = dict.fromkeys(values)
    for i, v in enumerate(seen):
        seen[v] = i
    return np.fromiter(map(seen.__getitem__, values), np.int64, len(values)), list(seen)


class Symbols:
    """String interning: one id per distinct string, like HTA's symbol table."""

    def __init__(self, strings=()):
        self.strings = list(strings)
        self.ids = {s: i for i, s in enumerate(self.strings)}

    def id(self, s):
        i = self.ids.get(s)
        if i is None:
            i = self.ids[s] = len(self.strings)
            self.strings.append(s)
        return i


# Column name -> numpy dtype code ('d' float64, 'q' int64, 'b' int8).
GPU = {"name": "q", "kind": "b", "device": "q", "stream": "q", "ts": "d", "dur": "d",
       "correlation": "q", "external_id": "q", "graph_id": "q", "grid": "q", "block": "q",
       "bytes": "d", "collective": "q"}
RUNTIME = {"name": "q", "cat": "q", "pid": "q", "tid": "q", "ts": "d", "dur": "d",
           "correlation": "q", "external_id": "q"}
CPU = {"name": "q", "pid": "q", "tid": "q", "ts": "d", "dur": "d", "external_id": "q",
       "dims": "q", "types": "q", "concrete": "q", "collective": "q"}
ANNOT = {"name": "q", "on_gpu": "b", "pid": "q", "tid": "q", "ts": "d", "dur": "d"}
SYNC = {"name": "q", "device": "q", "stream": "q", "ts": "d", "dur": "d", "correlation": "q"}
FLOW = {"id": "q", "phase": "b", "cat": "q", "pid": "q", "tid": "q", "ts": "d"}
TABLES = {"gpu": GPU, "runtime": RUNTIME, "cpu": CPU, "annot": ANNOT, "sync": SYNC, "flow": FLOW}
# Columns holding codes of a symbol table (the rest are numbers).
NAME_COLS = {"name", "cat"}
SHAPE_COLS = {"grid", "block", "dims", "types", "concrete", "collective"}
ID_COLS = {"device", "stream", "pid", "tid", "correlation", "external_id", "graph_id", "id"}


# A part codes its text ids as _TEXT + k, far below any id a trace holds as a number (numbers
# below _LOW count as text), so a negative number (a tid of -3) is never taken for text.
_TEXT = -(1 << 62)
_LOW = -(1 << 61)


class Part:
    """The columns of one block, with block-local symbol tables."""

    def __init__(self):
        self.names = Symbols()  # event names and categories
        self.shapes = Symbols()  # raw JSON text of grid/block and input dims/types
        self.ids = Symbols()  # non-numeric pid/tid strings
        for table in TABLES:
            setattr(self, table, {})
        self.counts = {}
        self.bad = 0  # events skipped: not an object, or a missing/negative/non-numeric ts or dur
        self.thread_names = {}

    def int(self, v):
        """pid/tid/stream as int; "stream 7" -> 7; other strings -> a stable negative id
        (in a part: _TEXT + k, k in the part's ids; Columns.extend makes it -2 - k')."""
        if type(v) is int:
            if _LOW <= v < 1 << 63:
                return v
            v = str(v)  # an integer the columns cannot hold as a number: an id like text
        if isinstance(v, str):
            s = v[7:] if v.startswith("stream ") else v
            # isdigit() admits "²", which int() refuses; more than 19 digits cannot be an int64
            if s.isdecimal() and len(s) <= 19 and int(s) < 1 << 63:
                return int(s)
            return _TEXT + self.ids.id(v)
        return -1

    def ints(self, values):
        if set(map(type, values)) <= {int}:
            try:
                arr = np.array(values, np.int64)
            except OverflowError:
                arr = None
            if arr is not None and (not len(arr) or arr.min() >= _LOW):
                return arr
        return np.array([self.int(v) for v in values], np.int64)

    def shape_ids(self, raws):
        codes, distinct = distinct_codes(list(map(bytes, raws)))
        ids = np.array([-1 if r in (b"", b"null") else self.shapes.id(r) for r in distinct] or [0], np.int64)
        return ids[codes]


class Columns:
    """Every table's columns over all parts, in file order."""

    def __init__(self):
        self.names = Symbols()
        self.shapes = Symbols()  # compact JSON text (orjson.dumps) of each distinct shape
        self.ids = Symbols()
        self._pieces = {table: {col: [] for col in spec} for table, spec in TABLES.items()}
        self.counts = {}
        self.bad = 0
        self.thread_names = {}

    @classmethod
    def restore(cls, tables, *, names, shapes, ids, counts, thread_names):
        """Columns from saved tables ({table: {column: array}}) and symbol tables (the cache)."""
        cols = cls()
        cols.names, cols.shapes, cols.ids = Symbols(names), Symbols(shapes), Symbols(ids)
        cols._pieces = {t: {c: [a] for c, a in spec.items()} for t, spec in tables.items()}
        cols.counts, cols.thread_names = counts, thread_names
        return cols

    def extend(self, part: Part):
        names = np.array([self.names.id(s) for s in part.names.strings] or [0], np.int64)
        shapes = np.array([self.shapes.id(_canonical(s)) for s in part.shapes.strings] or [0], np.int64)
        ids = np.array([self.ids.id(s) for s in part.ids.strings] or [0], np.int64)
        for table, spec in TABLES.items():
            cols = getattr(part, table)
            if not cols:
                continue
            pieces = self._pieces[table]
            for col in spec:
                v = cols[col]
                if col in NAME_COLS:
                    v = names[v]
                elif col in SHAPE_COLS:
                    v = np.where(v >= 0, shapes[np.maximum(v, 0)], -1)
                elif col in ID_COLS and part.ids.strings:
                    v = np.where(v < _LOW, -2 - ids[np.clip(v - _TEXT, 0, len(ids) - 1)], v)
                pieces[col].append(v)
        for k, n in part.counts.items():
            self.counts[k] = self.counts.get(k, 0) + n
        self.bad += part.bad
        for (pid, tid), name in part.thread_names.items():
            self.thread_names[(self._global_id(part, pid), self._global_id(part, tid))] = name

    def _global_id(self, part, v):
        return -2 - self.ids.id(part.ids.strings[v - _TEXT]) if v < _LOW else v

    def table(self, table):
        """{column: numpy array} of one table ("gpu", "runtime", "cpu", "annot", "sync", "flow"). The
        parts' pieces are joined once and kept joined: asking again (the cache, then the Trace) costs nothing."""
        out = {}
        for col, code in TABLES[table].items():
            pieces = self._pieces[table][col]
            arr = np.concatenate(pieces) if len(pieces) > 1 else pieces[0] if pieces else np.empty(0, code)
            pieces[:] = [arr.astype(code, copy=False)]
            out[col] = pieces[0]
        return out

    def pop(self, table):
        """table(table), given away: the columns no longer hold it, so whoever builds on it can free it."""
        out = self.table(table)
        self._pieces[table] = {col: [] for col in TABLES[table]}
        return out


def _canonical(raw: bytes) -> bytes:
    """One text per JSON value: '[1, 2]' and '[1,2]' are the same shape."""
    try:
        return orjson.dumps(orjson.loads(raw))
    except orjson.JSONDecodeError:  # e.g. an integer orjson cannot hold
        return raw.strip()
