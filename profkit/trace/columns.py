"""Turn batches of event dicts into compact columns.

Only the fields analysis needs are kept, in `array.array` buffers (8 bytes a
number, no Python object per value) and with every string interned once in a
symbol table, so memory grows with the number of events kept, not with the
size of the JSON. Category names of every PyTorch era are accepted: 2021 traces
say "Kernel", "Runtime", "Operator", "Memcpy", "Memset" and "external id".
"""

from array import array

import orjson

GPU_KINDS = ("kernel", "memcpy", "memset")
_GPU_CATS = {"kernel": 0, "gpu_memcpy": 1, "memcpy": 1, "gpu_memset": 2, "memset": 2}
_RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "runtime"}
_CPU_CATS = {"cpu_op", "operator"}
_ANNOT_CATS = {"user_annotation": False, "gpu_user_annotation": True}
_FLOW_PHASES = {"s": 0, "f": 1, "t": 2}


class Symbols:
    """String interning: one id per distinct string, like HTA's symbol table."""

    def __init__(self):
        self.ids = {}
        self.strings = []

    def id(self, s):
        i = self.ids.get(s)
        if i is None:
            i = self.ids[s] = len(self.strings)
            self.strings.append(s)
        return i


def _table(spec):
    return {col: array(code) for col, code in spec.items()}


# Column name -> array type code ('d' float64, 'q' int64, 'b' int8).
GPU = {"name": "q", "kind": "b", "device": "q", "stream": "q", "ts": "d", "dur": "d",
       "correlation": "q", "external_id": "q", "graph_id": "q", "grid": "q", "block": "q",
       "bytes": "d"}
RUNTIME = {"name": "q", "cat": "q", "pid": "q", "tid": "q", "ts": "d", "dur": "d",
           "correlation": "q", "external_id": "q"}
CPU = {"name": "q", "pid": "q", "tid": "q", "ts": "d", "dur": "d", "external_id": "q",
       "dims": "q", "types": "q", "concrete": "q"}
ANNOT = {"name": "q", "on_gpu": "b", "pid": "q", "tid": "q", "ts": "d", "dur": "d"}
SYNC = {"name": "q", "device": "q", "stream": "q", "ts": "d", "dur": "d", "correlation": "q"}
FLOW = {"id": "q", "phase": "b", "cat": "q", "pid": "q", "tid": "q", "ts": "d"}


class Columns:
    """Accumulates the columns of every table over all batches."""

    def __init__(self):
        self.names = Symbols()  # event names and categories
        self.shapes = Symbols()  # grid/block and input dims/types, as compact JSON text
        self.ids = Symbols()  # non-numeric pid/tid strings
        self.gpu = _table(GPU)
        self.runtime = _table(RUNTIME)
        self.cpu = _table(CPU)
        self.annot = _table(ANNOT)
        self.sync = _table(SYNC)
        self.flow = _table(FLOW)
        self.counts = {}
        self.bad = 0  # events skipped for a missing/negative/non-numeric ts or dur
        self.thread_names = {}

    def _int(self, v):
        """pid/tid/stream as int; "stream 7" -> 7; other strings -> a stable negative id."""
        if type(v) is int:
            return v
        if isinstance(v, str):
            s = v[7:] if v.startswith("stream ") else v
            if s.isdigit():
                return int(s)
            return -2 - self.ids.id(v)
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return -1

    def _shape(self, v):
        return -1 if v is None else self.shapes.id(orjson.dumps(v))

    def add(self, events):
        counts = self.counts
        name_id = self.names.id
        as_int = self._int
        for e in events:
            if type(e) is not dict:
                self.bad += 1
                continue
            cat = e.get("cat")
            counts[cat] = counts.get(cat, 0) + 1
            ph = e.get("ph")
            if ph == "X":
                ts, dur = e.get("ts"), e.get("dur")
                if type(ts) not in (int, float) or type(dur) not in (int, float) or dur < 0 or ts < 0:
                    self.bad += 1
                    continue
                lcat = cat.lower() if isinstance(cat, str) else ""
                args = e.get("args")
                if type(args) is not dict:
                    args = {}
                name = e.get("name")
                nid = name_id(name if isinstance(name, str) else "")
                kind = _GPU_CATS.get(lcat)
                if kind is not None:
                    t = self.gpu
                    t["name"].append(nid)
                    t["kind"].append(kind)
                    t["device"].append(as_int(args.get("device", e.get("pid"))))
                    t["stream"].append(as_int(args.get("stream", e.get("tid"))))
                    t["ts"].append(ts)
                    t["dur"].append(dur)
                    t["correlation"].append(as_int(args.get("correlation", -1)))
                    t["external_id"].append(as_int(args.get("External id", args.get("external id", -1))))
                    t["graph_id"].append(as_int(args.get("graph id", -1)))
                    t["grid"].append(self._shape(args.get("grid")))
                    t["block"].append(self._shape(args.get("block")))
                    b = args.get("bytes")
                    t["bytes"].append(b if type(b) in (int, float) else float("nan"))
                elif lcat in _RUNTIME_CATS:
                    t = self.runtime
                    t["name"].append(nid)
                    t["cat"].append(name_id(lcat))
                    t["pid"].append(as_int(e.get("pid")))
                    t["tid"].append(as_int(e.get("tid")))
                    t["ts"].append(ts)
                    t["dur"].append(dur)
                    t["correlation"].append(as_int(args.get("correlation", -1)))
                    t["external_id"].append(as_int(args.get("External id", args.get("external id", -1))))
                elif lcat in _CPU_CATS:
                    t = self.cpu
                    t["name"].append(nid)
                    t["pid"].append(as_int(e.get("pid")))
                    t["tid"].append(as_int(e.get("tid")))
                    t["ts"].append(ts)
                    t["dur"].append(dur)
                    t["external_id"].append(as_int(args.get("External id", args.get("external id", -1))))
                    t["dims"].append(self._shape(args.get("Input Dims", args.get("Input dims"))))
                    t["types"].append(self._shape(args.get("Input type")))
                    t["concrete"].append(self._shape(args.get("Concrete Inputs")))
                elif lcat in _ANNOT_CATS:
                    t = self.annot
                    t["name"].append(nid)
                    t["on_gpu"].append(_ANNOT_CATS[lcat])
                    t["pid"].append(as_int(e.get("pid")))
                    t["tid"].append(as_int(e.get("tid")))
                    t["ts"].append(ts)
                    t["dur"].append(dur)
                elif lcat == "cuda_sync":
                    t = self.sync
                    t["name"].append(nid)
                    t["device"].append(as_int(args.get("device", e.get("pid"))))
                    t["stream"].append(as_int(args.get("stream", e.get("tid"))))
                    t["ts"].append(ts)
                    t["dur"].append(dur)
                    t["correlation"].append(as_int(args.get("correlation", -1)))
            elif ph in _FLOW_PHASES:
                ts = e.get("ts")
                if type(ts) not in (int, float):
                    self.bad += 1
                    continue
                t = self.flow
                t["id"].append(as_int(e.get("id", -1)))
                t["phase"].append(_FLOW_PHASES[ph])
                t["cat"].append(name_id(cat if isinstance(cat, str) else ""))
                t["pid"].append(as_int(e.get("pid")))
                t["tid"].append(as_int(e.get("tid")))
                t["ts"].append(ts)
            elif ph == "M" and e.get("name") == "thread_name":
                args = e.get("args")
                if type(args) is dict:
                    self.thread_names[(as_int(e.get("pid")), as_int(e.get("tid")))] = str(args.get("name"))
