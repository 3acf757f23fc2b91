"""Regenerate the tables of docs/performance.md (printed as Markdown; paste between the markers).

    python benchmarks/performance.py OWLV2.json.gz [--sizes 100 500 1000] [--hta] [--repeat 3] [--workdir DIR]

1. Decoders: each candidate's time to turn the 55 MB owlv2 event array (in memory,
   decompressed) into what analysis reads. Missing optional packages are skipped.
2. Inputs: the owlv2 trace as shipped (gzip) and decompressed, and for each --sizes
   (MB) owlv2 tiled in time (make_big_trace.py), plain and gzip; kept in --workdir.
3. End to end, fresh processes (bench_vs_hta.measure, best of --repeat; HTA once for
   inputs over 100 MB): `profkit analyze --json` cold (--no-cache) and warm (answered
   from the cache), whether both print the same bytes, and HTA 0.5.0 with --hta.
4. Floor of each big input: read (+ gunzip) and a syntax-only parse (msgspec, C).
5. Issue 13's targets, each met or not, from the numbers above.
Machine load (`uptime`) is printed with the numbers: the machine is shared.
"""

import argparse
import gzip
import hashlib
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


def inputs(owlv2, sizes, workdir, gz):
    """(label, MB of JSON, path) of every input, built in `workdir` when missing."""
    import make_big_trace

    workdir.mkdir(parents=True, exist_ok=True)
    plain = workdir / owlv2.name.removesuffix(".gz")
    if not plain.exists():
        plain.write_bytes(gzip.decompress(owlv2.read_bytes()))
    mb = plain.stat().st_size / 2**20
    found = [(f"owlv2 {mb:.0f} MB, gzip as shipped", mb, owlv2), (f"owlv2 {mb:.0f} MB, plain", mb, plain)]
    for size in sizes:
        for ext in (".json", ".json.gz") if gz else (".json",):
            out = workdir / f"owlv2-{size}mb{ext}"
            if not out.exists():
                make_big_trace.main([str(owlv2), "--size-mb", str(size), "-o", str(out)])
            found.append((f"owlv2 tiled, {'gzip' if ext.endswith('gz') else 'plain'}", size, out))
    return found


def analyze(path, no_cache, repeat):
    """(wall s, peak RSS MB, output digest) of the best of `repeat` fresh `profkit analyze --json` runs."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryFile() as out:
            cmd = [sys.executable, "-m", "profkit", "analyze", "--json", *(["--no-cache"] if no_cache else []),
                   str(path)]
            r = measure(cmd, stdout=out)
            if r is None:
                raise SystemExit(f"profkit failed on {path}")
            out.seek(0)
            runs.append((*r, hashlib.blake2b(out.read()).hexdigest()))
    return min(runs)


def end_to_end(rows, hta, repeat):
    """Measure every input; returns {label: numbers} for the targets."""
    py = sys.executable
    print("\nEnd to end (fresh processes, wall s / peak RSS MB; warm = answered from the cache):\n")
    print("| trace | MB of JSON | on disk MB | profkit cold | profkit warm | warm / cold | same output | HTA 0.5.0 | "
          "x faster | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    cache = tempfile.mkdtemp(prefix="profkit-bench-cache-")
    os.environ["PROFKIT_CACHE_DIR"] = cache
    results = {}
    for label, mb, p in rows:
        cold = analyze(p, True, repeat)
        analyze(p, False, 1)  # fills the cache
        warm = analyze(p, False, repeat)
        h = None
        if hta:
            with tempfile.TemporaryDirectory() as d:
                shutil.copy(p, Path(d) / p.name)
                h = min(filter(None, (measure([py, "-c", HTA_SCRIPT, d]) for _ in range(repeat if mb <= 100 else 1))),
                        default=None)
        disk = p.stat().st_size / 2**20
        hta_cells = (f"{h[0]:.1f} s / {h[1]:.0f} MB | {h[0] / cold[0]:.1f} | {cold[1] / h[1]:.2f}" if h
                     else "not run | | ")
        print(f"| {label} | {mb:.0f} | {disk:.0f} | {cold[0]:.2f} s / {cold[1]:.0f} MB | {warm[0]:.2f} s / "
              f"{warm[1]:.0f} MB | {warm[0] / cold[0]:.2f} | {'yes' if cold[2] == warm[2] else 'NO'} | {hta_cells} |")
        results[(label, mb)] = {"cold": cold, "warm": warm, "hta": h}
    shutil.rmtree(cache, ignore_errors=True)
    return results


def floor(path):
    """What no loader can go under (as a sentence): reading (+ gunzip) the file in 4 MB blocks into one reused
    buffer, and a syntax-only parse of its event array (values not built) on one core."""
    import msgspec

    from profkit.trace.reader import _open

    buf = bytearray(4 << 20)
    t = time.perf_counter()
    with _open(path)[0] as f:
        while f.readinto(buf):
            pass
    read = time.perf_counter() - t
    with _open(path)[0] as f:
        arr = event_array(f.read())
    dec = msgspec.json.Decoder(list[msgspec.Raw])
    t = time.perf_counter()
    dec.decode(arr)
    parse = time.perf_counter() - t
    return (f"read{' + gunzip' if str(path).endswith('.gz') else ''} {read:.2f} s, syntax-only parse {parse:.2f} s "
            f"(one core) -> {read + parse:.2f} s serial, {read + parse / 2:.2f} s with the parse on 2 cores")


def targets(results):
    """Issue 13's targets, met or not, from the measurements (a target whose input was not run says so)."""
    def find(mb, kind):
        return next((r for (label, m), r in results.items() if round(m) == mb and kind in label), None)

    def vs_hta(name, row, faster, rss_max, missing):
        if not (row and row["hta"]):
            return name, None, missing
        speed, rss = row["hta"][0] / row["cold"][0], row["cold"][1] / row["hta"][1]
        return name, speed >= faster and rss <= rss_max, f"{speed:.1f}x, {rss:.2f}x RSS"

    owl = next((r for (label, _), r in results.items() if "as shipped" in label), None)
    big1000 = find(1000, "plain")
    rows = [vs_hta("55 MB cold: >= 6x faster than HTA, <= 0.5x its peak RSS", owl, 6, 0.5, "HTA not run (--hta)"),
            vs_hta("500 MB: >= 20x faster than HTA, <= 0.1x its peak RSS", find(500, "plain"), 20, 0.1,
                   "not run (--sizes 500 --hta)")]
    if big1000:
        rows.append(("1 GB plain JSON: <= 6 s", big1000["cold"][0] <= 6, f"{big1000['cold'][0]:.2f} s"))
    else:
        rows.append(("1 GB plain JSON: <= 6 s", None, "not run (--sizes 1000)"))
    ratios = {label: r["warm"][0] / r["cold"][0] for (label, _), r in results.items()}
    same = all(r["cold"][2] == r["warm"][2] for r in results.values())
    worst = max(ratios, key=ratios.get)
    rows.append(("re-analysis: <= 0.35x the cold time, identical output", max(ratios.values()) <= 0.35 and same,
                 f"worst {ratios[worst]:.2f}x ({worst}), output {'identical' if same else 'DIFFERENT'}"))
    print("\nTargets (issue 13):\n")
    print("| target | met | measured |\n|---|---|---|")
    for name, ok, got in rows:
        print(f"| {name} | {'yes' if ok else 'not run' if ok is None else 'NO'} | {got} |")
    met = all(ok for _, ok, _ in rows)
    print(f"\n{'all targets met' if met else 'targets NOT all met'}")
    return met


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("owlv2", type=Path)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100, 500, 1000], help="MB of tiled JSON")
    ap.add_argument("--no-gzip", action="store_true", help="only plain JSON for the tiled traces")
    ap.add_argument("--hta", action="store_true", help="also run HTA on every trace (minutes per GB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "profkit-bench",
                    help="where the tiled traces are built (and reused)")
    ap.add_argument("--skip-decoders", action="store_true")
    args = ap.parse_args()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if not args.skip_decoders:
        decoders(args.owlv2, args.repeat)
    rows = inputs(args.owlv2, args.sizes, args.workdir, not args.no_gzip)
    results = end_to_end(rows, args.hta, args.repeat)
    for _, mb, p in rows:
        if mb >= 100:
            print(f"\nFloor of {p.name}: {floor(p)}")
    print("\nload:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    sys.exit(0 if targets(results) else 1)


if __name__ == "__main__":
    main()
