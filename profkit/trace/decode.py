"""Decode one block of events into columns, without a Python dict per event.

A block is the text of some whole events, `ev,ev,...`, as the reader cuts it.
msgspec decodes it straight into typed Structs that hold only the fields
analysis reads (every other key is skipped in C), with each event's args left
as raw text; the args of the events a table keeps are then decoded in one call
per table into that table's Struct (the args of python_function and instant
events, most of a CPU trace, are never decoded; `Input Dims` and other shapes
stay raw JSON text, parsed once per distinct text), and each table's columns
are read off with list comprehensions into numpy arrays. The result is a
`Part` with its own symbol tables; `columns.Columns.extend` merges parts in
file order, so blocks can be decoded in any process.

Kineto's types are the fast path. A block where some event has an unexpected
type (a string ts, a float pid, kept args that are not an object) is decoded again
generically and each event cleaned to the same Structs with the rules the
loader has always had (skip an event whose ts/dur is not a number, an id that
is not a number becomes -1), so odd traces load exactly as before.

To keep one more Kineto arg: add a field to its table's args Struct (with its
JSON name; the lenient path cleans it by its type) and a line where its table
is built in `_build`.
"""

import json
import re
from typing import Any, Union

import msgspec
import numpy as np
import orjson
from msgspec import UNSET, Raw, Struct, UnsetType, field

from profkit.trace.columns import COLLECTIVE_ARGS, GPU_CATS, Part, distinct_codes

Id = Union[int, str, None, UnsetType]  # pid/tid/stream/ids: a number, or "stream 7"-like text
Num = Union[float, None]
_NO = Raw(b"")  # shape argument absent
_NO_ARGS = Raw(b"{}")  # an event without args (or, decoded leniently, args that are not an object)


class Event(Struct, gc=False):
    ph: Union[str, None] = None
    cat: Union[str, None] = None
    name: Union[str, None] = None
    pid: Id = None
    tid: Id = None
    ts: Num = None
    dur: Num = None
    id: Id = -1
    args: Raw = _NO_ARGS  # decoded per table, for the events kept there (see _ARGS)


class Collective(Struct, gc=False):
    """Collective metadata (columns.COLLECTIVE_ARGS), on NCCL kernels and record_param_comms ops."""
    collective_name: Any = field(default=UNSET, name="Collective name")
    in_nelems: Any = field(default=UNSET, name="In msg nelems")
    out_nelems: Any = field(default=UNSET, name="Out msg nelems")
    dtype: Any = UNSET
    group_size: Any = field(default=UNSET, name="Group size")
    pg_name: Any = field(default=UNSET, name="Process Group Name")
    pg_desc: Any = field(default=UNSET, name="Process Group Description")


class GpuArgs(Collective, gc=False):
    device: Id = UNSET
    stream: Id = UNSET
    correlation: Id = -1
    external_id: Id = field(default=UNSET, name="External id")
    external_id_2021: Id = field(default=-1, name="external id")
    graph_id: Id = field(default=-1, name="graph id")
    grid: Raw = _NO
    block: Raw = _NO
    bytes: Num = None


class RuntimeArgs(Struct, gc=False):
    correlation: Id = -1
    external_id: Id = field(default=UNSET, name="External id")
    external_id_2021: Id = field(default=-1, name="external id")


class CpuArgs(Collective, gc=False):
    external_id: Id = field(default=UNSET, name="External id")
    external_id_2021: Id = field(default=-1, name="external id")
    dims: Raw = field(default=_NO, name="Input Dims")
    dims_2021: Raw = field(default=_NO, name="Input dims")
    types: Raw = field(default=_NO, name="Input type")
    concrete: Raw = field(default=_NO, name="Concrete Inputs")


class SyncArgs(Struct, gc=False):
    device: Id = UNSET
    stream: Id = UNSET
    correlation: Id = -1


class MetaArgs(Struct, gc=False):
    name: Any = UNSET  # thread_name metadata events


# Each table's args, decoded in one call for the block's events of that table: the
# args of events no table keeps (python_function, instant events) are only skipped.
_ARGS = {table: msgspec.json.Decoder(list[t]) for table, t in
         (("gpu", GpuArgs), ("runtime", RuntimeArgs), ("cpu", CpuArgs), ("sync", SyncArgs), ("meta", MetaArgs))}


_SEPARATOR = re.compile(rb"[ \t\r\n]*(?:,[ \t\r\n]*)?")  # before every block but the first
_typed = msgspec.json.Decoder(list[Event])


_syntax = msgspec.json.Decoder(list[Raw])


_AT_BYTE = re.compile(r"\(byte (\d+)\)")


def check_block(text):
    """Whether `[text]` is a JSON array (syntax checked at C speed, values not built): True;
    None when it nests too deeply to check; else the offset in `text` where the syntax fails
    (a valid prefix of the array ends no later), or len(text) when the decoder does not say."""
    try:
        _syntax.decode(b"[" + text + b"]")
    except RecursionError:
        return None
    except msgspec.DecodeError as e:
        m = _AT_BYTE.search(str(e))
        return max(0, int(m.group(1)) - 1) if m else len(text)
    return True


# Which table an X event goes to, by lower-cased category.
_TABLE = {**{c: "gpu" for c in GPU_CATS}, "cuda_runtime": "runtime", "cuda_driver": "runtime", "runtime": "runtime",
          "cpu_op": "cpu", "operator": "cpu", "user_annotation": "annot", "gpu_user_annotation": "annot",
          "cuda_sync": "sync"}
_FLOW_PHASES = {"s": 0, "f": 1, "t": 2}


def as_array(block: bytes) -> bytes:
    """`[ev,ev,...]`: a block's text (with the separator before it dropped) as a JSON array."""
    return b"[" + memoryview(block)[_SEPARATOR.match(block).end():] + b"]"


class Unreadable(ValueError):
    """Valid JSON holding a value no reader here can hold (an integer of thousands of digits)."""


def decode_block(text: bytes):
    """Columns (a Part) of the events in `text` (`[, ]ev,ev,...`), or None if it is not valid
    JSON (a cut inside a string or an array: the reader cuts again, checked). Valid JSON that
    neither msgspec nor the generic readers can hold raises Unreadable: cutting it again
    would give the same text forever."""
    data = as_array(text)
    try:
        try:
            return _build(_typed.decode(data), None)
        except msgspec.ValidationError:  # a kept field (args included) of a type Kineto never writes
            return _build(*_lenient(_generic(data)))
    except (msgspec.DecodeError, ValueError, RecursionError):  # JSON decode errors are ValueErrors
        if _is_json(data) and _is_utf8(data):  # bad UTF-8: the reader repairs it (reader.repair)
            raise Unreadable("an event holds a value no JSON reader here can hold "
                             "(such as an integer of thousands of digits)") from None
        return None


def _is_utf8(data):
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_json(data):
    try:
        _syntax.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def _generic(data):
    """The events as Python objects: orjson, or the standard library for integers beyond 64 bits."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _dumps(obj):
    try:
        return orjson.dumps(obj)
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(obj, separators=(",", ":")).encode()


MAX_TIME_US = float(1 << 53)


def _lenient(items):
    """Generic decode: each event cleaned to an Event by the loader's rules; counts of categories."""
    part_counts = {}
    events = []
    bad = 0
    for d in items:
        if type(d) is not dict:
            bad += 1
            continue
        cat = d.get("cat")
        key = cat if cat is None or isinstance(cat, (str, int, float, bool)) else str(cat)
        part_counts[key] = part_counts.get(key, 0) + 1
        ph, name = d.get("ph"), d.get("name")
        events.append(Event(
            ph=ph if isinstance(ph, str) else None, cat=cat if isinstance(cat, str) else None,
            name=name if isinstance(name, str) else None, pid=_id(d.get("pid")), tid=_id(d.get("tid")),
            ts=_num(d.get("ts")), dur=_num(d.get("dur")), id=_id(d.get("id", -1)), args=_clean_args(d.get("args"))))
    part_counts[_BAD] = bad
    return events, part_counts


_BAD = object()  # key of the non-object count in a lenient decode's counts


_COLLECTIVE_FIELDS = Collective.__struct_fields__  # attribute names; their JSON names are COLLECTIVE_ARGS


def _collective(a):
    """JSON text of an event's collective metadata ({arg: value or null}), or b"" without any."""
    if a.collective_name is UNSET:
        return b""
    values = (getattr(a, f) for f in _COLLECTIVE_FIELDS)
    return _dumps({k: None if v is UNSET else v for k, v in zip(COLLECTIVE_ARGS, values)})


def _id(v):
    """An id as the typed path takes it: a number or text (an integral float -> int), else null (-1)."""
    if v is None or isinstance(v, str) or type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    return None  # becomes -1


def _num(v):
    return float(v) if type(v) in (int, float) else None


# The args the tables' Structs keep, by JSON name and the cleaning each gets on the lenient path.
_ARG_FIELDS = [f for t in (GpuArgs, RuntimeArgs, CpuArgs, SyncArgs, MetaArgs) for f in msgspec.structs.fields(t)]
_CLEAN = {f.encode_name: _id if f.type == Id else _num if f.type == Num else None for f in _ARG_FIELDS}


def _clean_args(a):
    """The args we keep, cleaned: args that are not an object count as none; an id that is
    not a number or text becomes null (-1), a byte count that is not a number null."""
    if type(a) is not dict:
        return _NO_ARGS
    out = {k: a[k] if clean is None else clean(a[k]) for k, clean in _CLEAN.items() if k in a}
    return Raw(_dumps(out))


_TABLES = ("gpu", "runtime", "cpu", "annot", "sync", "flow", "meta")


def _build(events, counts):
    part = Part()
    cat_codes, cats = distinct_codes([e.cat for e in events])
    if counts is None:
        counts = dict(zip(cats, np.bincount(cat_codes, minlength=len(cats)).tolist()))
    else:
        part.bad = counts.pop(_BAD)
    part.counts = counts

    # Route every event to its table, in file order: a table per distinct (ph, cat).
    ph_codes, phs = distinct_codes([e.ph for e in events])
    route = np.array([[_TABLES.index(t) if (t := _route(ph, cat)) else -1 for cat in cats] for ph in phs] or [[0]],
                     np.int64)
    table_of = route[ph_codes, cat_codes] if len(events) else ph_codes
    lists = {}
    for k, table in enumerate(_TABLES):
        where = np.flatnonzero(table_of == k).tolist()
        lists[table] = [events[i] for i in where]

    names = part.names.id
    x_tables = {}
    for table in ("gpu", "runtime", "cpu", "annot", "sync"):
        evs = lists[table]
        if not evs:
            continue
        ts = np.array([e.ts for e in evs], np.float64)
        dur = np.array([e.dur for e in evs], np.float64)
        # NaN (absent or not a number) fails too, and so does an end past 2^53 µs (285 years after
        # 1970: no clock gives it, and float64 keeps no microseconds there; 1e308 + 1e308 is inf).
        with np.errstate(over="ignore", invalid="ignore"):
            ok = (ts >= 0) & (dur >= 0) & (ts + dur < MAX_TIME_US)
        if not ok.all():
            part.bad += int((~ok).sum())
            evs = [e for e, keep in zip(evs, ok.tolist()) if keep]
            ts, dur = ts[ok], dur[ok]
        x_tables[table] = evs, ts, dur

    def args_of(table, evs):
        return _ARGS[table].decode(b"[" + b",".join([e.args for e in evs]) + b"]")

    def text_ids(evs):
        codes, distinct = distinct_codes([e.name for e in evs])
        return np.array([names(n if n is not None else "") for n in distinct], np.int64)[codes]

    def external(args):
        return part.ints([a.external_id_2021 if a.external_id is UNSET else a.external_id for a in args])

    def collective(args):
        if all(a.collective_name is UNSET for a in args):
            return np.full(len(args), -1, np.int64)
        return part.shape_ids([_collective(a) for a in args])

    if "gpu" in x_tables:
        evs, ts, dur = x_tables["gpu"]
        args = args_of("gpu", evs)
        t = part.gpu
        t["name"], t["ts"], t["dur"] = text_ids(evs), ts, dur
        t["kind"] = np.array([GPU_CATS[e.cat.lower()] for e in evs], np.int8)
        t["device"] = part.ints([e.pid if a.device is UNSET else a.device for e, a in zip(evs, args)])
        t["stream"] = part.ints([e.tid if a.stream is UNSET else a.stream for e, a in zip(evs, args)])
        t["correlation"] = part.ints([a.correlation for a in args])
        t["external_id"] = external(args)
        t["graph_id"] = part.ints([a.graph_id for a in args])
        t["grid"] = part.shape_ids([a.grid for a in args])
        t["block"] = part.shape_ids([a.block for a in args])
        t["bytes"] = np.array([a.bytes for a in args], np.float64)
        t["collective"] = collective(args)
    if "runtime" in x_tables:
        evs, ts, dur = x_tables["runtime"]
        args = args_of("runtime", evs)
        t = part.runtime
        t["name"], t["ts"], t["dur"] = text_ids(evs), ts, dur
        t["cat"] = np.array([names(e.cat.lower()) for e in evs], np.int64)
        t["pid"], t["tid"] = part.ints([e.pid for e in evs]), part.ints([e.tid for e in evs])
        t["correlation"] = part.ints([a.correlation for a in args])
        t["external_id"] = external(args)
    if "cpu" in x_tables:
        evs, ts, dur = x_tables["cpu"]
        args = args_of("cpu", evs)
        t = part.cpu
        t["name"], t["ts"], t["dur"] = text_ids(evs), ts, dur
        t["pid"], t["tid"] = part.ints([e.pid for e in evs]), part.ints([e.tid for e in evs])
        t["external_id"] = external(args)
        t["dims"] = part.shape_ids([a.dims_2021 if a.dims is _NO else a.dims for a in args])
        t["types"] = part.shape_ids([a.types for a in args])
        t["concrete"] = part.shape_ids([a.concrete for a in args])
        t["collective"] = collective(args)
    if "annot" in x_tables:
        evs, ts, dur = x_tables["annot"]
        t = part.annot
        t["name"], t["ts"], t["dur"] = text_ids(evs), ts, dur
        t["on_gpu"] = np.array([e.cat.lower() == "gpu_user_annotation" for e in evs], np.int8)
        t["pid"], t["tid"] = part.ints([e.pid for e in evs]), part.ints([e.tid for e in evs])
    if "sync" in x_tables:
        evs, ts, dur = x_tables["sync"]
        args = args_of("sync", evs)
        t = part.sync
        t["name"], t["ts"], t["dur"] = text_ids(evs), ts, dur
        t["device"] = part.ints([e.pid if a.device is UNSET else a.device for e, a in zip(evs, args)])
        t["stream"] = part.ints([e.tid if a.stream is UNSET else a.stream for e, a in zip(evs, args)])
        t["correlation"] = part.ints([a.correlation for a in args])

    evs = lists["flow"]
    if evs:
        ts = np.array([e.ts for e in evs], np.float64)
        ok = ~np.isnan(ts)
        if not ok.all():
            part.bad += int((~ok).sum())
            evs = [e for e, keep in zip(evs, ok.tolist()) if keep]
            ts = ts[ok]
        t = part.flow
        t["id"] = part.ints([e.id for e in evs])
        t["phase"] = np.array([_FLOW_PHASES[e.ph] for e in evs], np.int8)
        t["cat"] = np.array([names(e.cat if e.cat is not None else "") for e in evs], np.int64)
        t["pid"], t["tid"], t["ts"] = part.ints([e.pid for e in evs]), part.ints([e.tid for e in evs]), ts

    evs = [e for e in lists["meta"] if e.name == "thread_name" and e.args is not _NO_ARGS]
    for e, a in zip(evs, args_of("meta", evs) if evs else ()):
        part.thread_names[(part.int(e.pid), part.int(e.tid))] = str(None if a.name is UNSET else a.name)
    return part


def _route(ph, cat):
    if ph == "X":
        return _TABLE.get(cat.lower() if cat is not None else "")
    if ph in _FLOW_PHASES:
        return "flow"
    return "meta" if ph == "M" else None
