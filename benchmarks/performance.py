"""Regenerate the tables of docs/performance.md (printed as Markdown; paste between the markers).

    python benchmarks/performance.py OWLV2.json.gz [--big BIG.json ...] [--hta] [--repeat 3]

1. Decoders: each candidate's time to turn the 55 MB owlv2 event array (in memory,
   decompressed) into what analysis reads. Missing optional packages are skipped.
2. End to end, fresh processes (benchmarks/bench_vs_hta.measure): `profkit analyze`
   cold (--no-cache), warm (cache hit), and HTA 0.5.0 with --hta.
3. Floor of each big file: read (+ gunzip) and a syntax-only parse (msgspec, C).
Machine load (`uptime`) is printed with the numbers: the machine is shared.
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_vs_hta import HTA_SCRIPT, measure  # noqa: E402


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def event_array(data):
    i = data.index(b"[", data.index(b'"traceEvents"'))
    after = data.find(b'"deviceProperties"', i)  # Kineto writes it after the events
    return data[i:data.rindex(b"]", 0, after if after > 0 else len(data)) + 1]


def decoders(path, repeat):
    import json

    import msgspec
    import orjson

    from profkit.trace.decode import _typed, decode_block

    data = gzip.decompress(path.read_bytes())
    arr = event_array(data)
    body = arr[1:-1]
    rows = [("json.loads (stdlib), whole document", lambda: json.loads(data)),
            ("orjson.loads, whole document (v1 parsed this, then walked dicts)", lambda: orjson.loads(data)),
            ("msgspec untyped (dicts)", lambda: msgspec.json.decode(arr)),
            ("msgspec typed Structs, parse only", lambda: _typed.decode(arr)),
            ("msgspec typed + numpy columns (profkit v2 decode_block)", lambda: decode_block(body))]
    try:
        import simdjson

        def simd():
            doc = simdjson.Parser().parse(arr)
            for e in doc:  # materialise the fields analysis reads
                (e.get("ph"), e.get("cat"), e.get("name"), e.get("ts"), e.get("dur"), e.get("pid"), e.get("tid"))
        rows.append(("pysimdjson parse + field access per event", simd))
        rows.append(("pysimdjson parse only (lazy)", lambda: simdjson.Parser().parse(arr)))
    except ImportError:
        rows.append(("pysimdjson", None))
    try:
        import polars as pl
        import io
        rows.append(("polars read_json (array, inferred schema)", lambda: pl.read_json(io.BytesIO(arr))))
    except ImportError:
        rows.append(("polars", None))
    try:
        import duckdb
        tmp = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
        tmp.write(arr)
        tmp.close()
        q = (f"SELECT count(*), sum(dur) FROM read_json('{tmp.name}', format='array', maximum_object_size=100000000,"
             " columns={ph: 'VARCHAR', cat: 'VARCHAR', name: 'VARCHAR', ts: 'DOUBLE', dur: 'DOUBLE', pid: 'JSON',"
             " tid: 'JSON', args: 'JSON'})")
        rows.append(("DuckDB read_json (file, typed columns, 2 threads)", lambda: duckdb.sql(q).fetchall()))
    except ImportError:
        rows.append(("duckdb", None))
    print(f"\nDecoders on {path.name} ({len(data) / 2**20:.0f} MB of JSON), best of {repeat}:\n")
    print("| candidate | seconds |\n|---|---:|")
    for name, fn in rows:
        if fn is None:
            print(f"| {name} | not installed |")
            continue
        try:
            print(f"| {name} | {best_of(fn, repeat):.3f} |")
        except Exception as e:  # a candidate that cannot read Kineto traces
            print(f"| {name} | failed: {type(e).__name__}: {str(e)[:60]} |")


def end_to_end(paths, hta, repeat):
    py = sys.executable
    print("\nEnd to end (fresh processes, wall s / peak RSS MB):\n")
    print("| trace | MB | profkit cold | profkit warm (cache) | warm/cold | HTA 0.5.0 | x faster | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    cache = tempfile.mkdtemp(prefix="profkit-bench-cache-")
    env = {**os.environ, "PROFKIT_CACHE_DIR": cache}
    os.environ.update(env)
    for p in paths:
        cold = min(measure([py, "-m", "profkit", "analyze", "--json", "--no-cache", str(p)]) for _ in range(repeat))
        measure([py, "-m", "profkit", "analyze", "--json", str(p)])  # fills the cache
        warm = min(measure([py, "-m", "profkit", "analyze", "--json", str(p)]) for _ in range(repeat))
        h = None
        if hta:
            with tempfile.TemporaryDirectory() as d:
                shutil.copy(p, Path(d) / p.name)
                h = measure([py, "-c", HTA_SCRIPT, d])
        size = p.stat().st_size / 2**20
        hta_cells = (f"{h[0]:.1f} s / {h[1]:.0f} MB | {h[0] / cold[0]:.1f} | {cold[1] / h[1]:.2f}" if h
                     else "not run | | ")
        print(f"| {p.name} | {size:.0f} | {cold[0]:.2f} s / {cold[1]:.0f} MB | {warm[0]:.2f} s / {warm[1]:.0f} MB | "
              f"{warm[0] / cold[0]:.2f} | {hta_cells} |")
    shutil.rmtree(cache, ignore_errors=True)


def floor(path):
    import msgspec

    from profkit.trace.reader import _open

    dec = msgspec.json.Decoder(list[msgspec.Raw])
    t = time.perf_counter()
    with _open(path) as f:
        data = f.read()
    read = time.perf_counter() - t
    arr = event_array(data)
    t = time.perf_counter()
    dec.decode(arr)
    parse = time.perf_counter() - t
    print(f"\nFloor of {path.name}: read{' + gunzip' if str(path).endswith('.gz') else ''} {read:.2f} s, "
          f"syntax-only parse {parse:.2f} s (one core) -> {read + parse:.2f} s serial, "
          f"{read + parse / 2:.2f} s with the parse on 2 cores")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("owlv2", type=Path)
    ap.add_argument("--big", type=Path, nargs="*", default=[])
    ap.add_argument("--hta", action="store_true", help="also run HTA on every trace (slow: minutes per GB)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    decoders(args.owlv2, args.repeat)
    end_to_end([args.owlv2, *args.big], args.hta, args.repeat)
    for p in args.big:
        floor(p)
    print("\nload:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
