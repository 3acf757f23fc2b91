"""`profkit annotate`: a copy of a trace with profkit's findings as Perfetto tracks.

Added to the original events (which are kept unchanged apart from one extra
arg): one "profkit" process holding
- a track of idle gaps per device, each slice named by its cause;
- a track per GPU stream mirroring its kernels, each slice named by its class,
  so the classes read at a glance in Perfetto's colours;
and the arg "profkit class" on every classified kernel (or CPU op on CPU traces).
The events are streamed batch by batch, so memory stays flat for big traces.
"""

import gzip
import os
from pathlib import Path

import numpy as np
import orjson

from profkit.analysis.analyze import analyze
from profkit.errors import ProfkitError
from profkit.fileio import atomic_path
from profkit.trace import load, secrets
from profkit.trace.reader import EventStream

CAT_GAP, CAT_CLASS = "profkit_gap", "profkit_class"
CLASS_ARG = "profkit class"
_PROCESS = "profkit: analysis"


def _key(name, ts, dur):
    return (name, float(ts), float(dur))


def _free_pid(trace):
    used = set(trace.runtime["pid"].tolist()) | set(trace.cpu_ops["pid"].tolist()) | set(trace.gpu["device"].tolist())
    pid = 1 << 30
    while pid in used:
        pid += 1
    return pid


def _meta_event(kind, pid, tid, name):
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}


def _extra_events(trace, table, classes, gaps, pid):
    out = [_meta_event("process_name", pid, 0, _PROCESS)]
    devices = sorted(set(gaps["device"].tolist())) if len(gaps) else []
    for dev in devices:
        tid = 1 + len(out)
        where = f"GPU {dev}" if dev >= 0 else "CPU ops"
        out.append(_meta_event("thread_name", pid, tid, f"profkit: idle gaps ({where}), named by cause"))
        for g in gaps[gaps["device"] == dev].itertuples():
            out.append({"ph": "X", "cat": CAT_GAP, "name": f"idle: {g.cause}", "pid": pid, "tid": tid,
                        "ts": float(g.start_us), "dur": float(g.dur_us),
                        "args": {"cause": g.cause, "after": g.before, "before": g.after}})
    if trace.has_gpu:
        frame = table.assign(cls=classes)
        frame = frame[frame["cls"].map(lambda c: isinstance(c, str))]
        for (dev, stream), rows in frame.groupby(["device", "stream"], sort=True):
            tid = 1000 + len(out)
            out.append(_meta_event("thread_name", pid, tid, f"profkit: classes (GPU {dev}, stream {stream})"))
            for r in rows.itertuples():
                out.append({"ph": "X", "cat": CAT_CLASS, "name": str(r.cls), "pid": pid, "tid": tid,
                            "ts": float(r.ts), "dur": float(r.dur), "args": {"kernel": str(r.name)}})
    return out, len(gaps)


def _is_ours(e):
    cat = e.get("cat")
    if isinstance(cat, str) and cat.startswith("profkit_"):
        return True
    args = e.get("args")
    return (e.get("ph") == "M" and isinstance(args, dict) and isinstance(args.get("name"), str)
            and args["name"].startswith("profkit:"))


def annotate(src, dest, analysis=None, keep_secrets=False):
    """Write `dest` (gzip Chrome JSON): `src` plus profkit's tracks. Returns counts.
    `analysis`: the Analysis of `src` (its options' rules classify the kernels), else made here.
    Credential-like metadata (profkit.trace.secrets) is masked unless `keep_secrets`."""
    src, dest = Path(src), Path(dest)
    analysis = analysis if analysis is not None else analyze(load(src))
    trace = analysis.trace
    table, classes, gaps = analysis.layers()
    classes = np.asarray(classes, dtype=object)
    # Ops that do no work of their own (views, allocations) have no class.
    label = {k: c for k, c in zip(map(_key, table["name"].astype(str), table["ts"], table["dur"]), classes)
             if isinstance(c, str)}
    pid = _free_pid(trace)
    extra, n_gaps = _extra_events(trace, table, classes, gaps, pid)
    labelled = 0

    def labelled_events(batch):
        nonlocal labelled
        for e in batch:
            if not isinstance(e, dict) or _is_ours(e):
                continue
            if e.get("ph") == "X" and "name" in e and "ts" in e and "dur" in e:
                try:
                    cls = label.get(_key(str(e["name"]), e["ts"], e["dur"]))
                except (TypeError, ValueError):
                    cls = None
                if cls is not None:
                    e["args"] = {**(e["args"] if isinstance(e.get("args"), dict) else {}), CLASS_ARG: cls}
                    labelled += 1
            yield e

    masked = write_copy(src, dest, labelled_events, extra, keep_secrets)
    return {"gaps": n_gaps, "labelled": labelled, "events_added": len(extra), "masked": masked}


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_copy(src, dest, events=lambda batch: batch, extra=(), keep_secrets=False):
    """Stream `src` into `dest` (gzip Chrome JSON, written atomically): each batch of events through
    `events`, then `extra`, then the top-level keys, credential-like values masked unless
    `keep_secrets`. Returns the paths of the values masked."""
    stream = EventStream(src)
    with atomic_path(dest) as tmp, open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(b'{"traceEvents":[')
        first = True
        for batch in stream.batches():
            kept = list(events(batch))
            if kept:
                chunk = orjson.dumps(kept)[1:-1]
                out.write(chunk if first else b"," + chunk)
                first = False
        if extra:
            chunk = orjson.dumps(list(extra))[1:-1]
            out.write(chunk if first else b"," + chunk)
        out.write(b"]")
        if (stream.truncated or stream.repaired) and _same_file(src, dest):
            why = stream.truncated or f"{stream.repaired[0][0]} had to be repaired to read it"
            raise ProfkitError(f"{dest}: not written over its own input, which could not be copied exactly ({why}); "
                               "write the copy to another file")
        meta, masked = (stream.meta, []) if keep_secrets else secrets.masked(stream.meta)
        for key, value in meta.items():
            if key != "traceEvents":
                out.write(b"," + orjson.dumps(key) + b":" + orjson.dumps(value))
        out.write(b"}")
    return masked
