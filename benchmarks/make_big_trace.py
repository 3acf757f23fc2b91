"""Build a large, realistic trace by tiling a real one in time.

    python benchmarks/make_big_trace.py SOURCE --size-mb 1000 -o big.json[.gz]

Copy k of every event is shifted by k x (the source's time span + 1 ms), and its
correlation, External id and flow ids are renumbered so that launches, kernels
and CPU ops still pair up exactly as in the source. Output is written as it is
produced (plain JSON, or gzip when the name ends in .gz), so memory stays at
about one copy of the source.
"""

import argparse
import gzip
import sys
from pathlib import Path

import orjson

ID_ARGS = ("correlation", "External id", "external id")


def tiles(events, copies):
    """Yield lists of events, one list per copy."""
    timed = [e for e in events if isinstance(e, dict) and isinstance(e.get("ts"), (int, float))]
    start = min(e["ts"] for e in timed)
    end = max(e["ts"] + (e.get("dur") or 0) for e in timed)
    span = end - start + 1000.0
    top_id = 1 + max([e["args"].get(k, 0) for e in timed if isinstance(e.get("args"), dict) for k in ID_ARGS
                      if isinstance(e["args"].get(k), int)] + [e["id"] for e in timed if isinstance(e.get("id"), int)]
                     + [0])
    for k in range(copies):
        if k == 0:
            yield events
            continue
        shift, ids = k * span, k * top_id
        out = []
        for e in events:
            if not isinstance(e, dict) or "ts" not in e or e.get("ph") == "M":
                continue  # metadata events once is enough
            e = dict(e)
            e["ts"] = e["ts"] + shift
            if isinstance(e.get("id"), int):
                e["id"] += ids
            args = e.get("args")
            if isinstance(args, dict) and any(isinstance(args.get(a), int) for a in ID_ARGS):
                args = dict(args)
                for a in ID_ARGS:
                    if isinstance(args.get(a), int) and args[a] > 0:
                        args[a] += ids
                e["args"] = args
            out.append(e)
        yield out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path)
    ap.add_argument("--size-mb", type=float, required=True, help="stop after this much JSON text")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args(argv)
    raw = args.source.read_bytes()
    doc = orjson.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    events = doc.pop("traceEvents")
    per_copy = len(orjson.dumps(events))
    copies = max(1, round(args.size_mb * 2**20 / per_copy))
    opener = gzip.open if args.out.name.endswith(".gz") else open
    written = 0
    with opener(args.out, "wb") as f:
        head = orjson.dumps(doc)[:-1]  # the other top-level keys, object left open
        f.write(head + (b', "traceEvents": [\n' if len(doc) else b'"traceEvents": [\n'))
        first = True
        for tile in tiles(events, copies):
            for i in range(0, len(tile), 10000):
                text = b",\n".join(orjson.dumps(e) for e in tile[i:i + 10000])
                if text:
                    f.write((b"" if first else b",\n") + text)
                    written += len(text)
                    first = False
        f.write(b"\n]}\n")
    print(f"{args.out}: {copies} copies of {args.source.name}, {written / 2**20:.0f} MB of events", file=sys.stderr)


if __name__ == "__main__":
    main()
