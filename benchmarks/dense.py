"""Issue 23's benchmark: kernel-dense traces against HTA, on the idle machine and with one core busy.

    python benchmarks/dense.py OWLV2.json.gz [--workdir DIR] [--conditions idle busy] [--write-docs]

Inputs (built in --workdir when missing, make_dense_trace.py / make_big_trace.py): dense traces
of 1 k (the fixed cost), 125 k, 250 k, 500 k and 1 M kernels (each with its launch and aten
op), a 1 M-kernel CUDA-graph replay, 2 M zero-length kernels, owlv2 as shipped (55 MB
gzip) and owlv2 tiled to 500 MB plain. Each runs `profkit analyze --json --no-cache` in a
fresh process under /usr/bin/time -v (wall, peak RSS of the largest process); HTA 0.5.0
(bench_vs_hta.HTA_SCRIPT) runs on the 500 k-kernel trace and both owlv2 inputs, in the same
condition, right after profkit. "busy": a second process spins on one core for the whole
condition (started and stopped here). The floor of each big input (read + syntax-only
parse, performance.floor) is measured once.

Checks: busy time of every dense trace equals an independent union of its kernel intervals
(the JSON decoded here with msgspec into bare (ts, dur) pairs, sorted, merged in Python
floats); cost per kernel (wall minus the 1 k-kernel trace's, per kernel) flat within ±25%
of its median from 125 k to 1 M kernels, and bytes per kernel likewise (memory linear).
Prints Markdown tables and the targets met or not per condition; exit 1 unless all are met.
--write-docs puts the tables into docs/performance.md between its "dense" markers.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))
from bench_vs_hta import HTA_SCRIPT, measure  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
BEGIN, END = "<!-- dense: begin (benchmarks/dense.py --write-docs) -->", "<!-- dense: end -->"
SIZES = (125_000, 250_000, 500_000, 1_000_000)
SPIN = "while True: pass"


def build(workdir, owlv2):
    """{label: path} of every input, made when missing."""
    import make_big_trace
    import make_dense_trace

    workdir.mkdir(parents=True, exist_ok=True)
    made = {}

    def dense(label, n, *flags):
        out = workdir / f"{label}.json"
        if not out.exists():
            make_dense_trace.main(["--kernels", str(n), *flags, "-o", str(out)])
        made[label] = out

    dense("dense-1k", 1_000)
    for n in SIZES:
        dense(f"dense-{n // 1000}k", n)
    dense("graph-1000k", 1_000_000, "--graph")
    dense("zero-2000k", 2_000_000, "--zero-length")
    made["owlv2 gzip"] = owlv2
    tiled = workdir / "owlv2-500mb.json"
    if not tiled.exists():
        make_big_trace.main([str(owlv2), "--size-mb", "500", "-o", str(tiled)])
    made["owlv2 500 MB"] = tiled
    return made


class _Kernel(msgspec.Struct):
    ts: float = 0.0
    dur: float = 0.0
    cat: str = ""
    ph: str = ""


def reference_busy(path):
    """Busy µs of a single-device trace's kernels: the union of [ts, ts + dur], computed here."""
    class Doc(msgspec.Struct):
        traceEvents: list[_Kernel]

    doc = msgspec.json.decode(Path(path).read_bytes(), type=Doc)
    spans = sorted((e.ts, e.ts + e.dur) for e in doc.traceEvents if e.ph == "X" and e.cat == "kernel")
    busy, start, end = 0.0, None, None
    for s, e in spans:
        if start is None or s > end:
            if start is not None:
                busy += end - start
            start, end = s, e
        else:
            end = max(end, e)
    return busy + (end - start if start is not None else 0.0)


def profkit(path, cache=False):
    """(wall s, peak RSS MB, the JSON's temporal block, its bytes) of one fresh `profkit analyze --json`:
    cold (--no-cache), or with the cache in $PROFKIT_CACHE_DIR."""
    with tempfile.TemporaryFile() as out:
        r = measure([sys.executable, "-m", "profkit", "analyze", "--json", *([] if cache else ["--no-cache"]),
                     str(path)], stdout=out)
        if r is None:
            raise SystemExit(f"profkit failed on {path}")
        out.seek(0)
        text = out.read()
        return (*r, json.loads(text)["temporal"], text)


def warm(path, cold):
    """(wall s, the same bytes as `cold`?) of a re-analysis answered from the cache (filled by a first run)."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PROFKIT_CACHE_DIR"] = cache
        try:
            profkit(path, cache=True)
            again = profkit(path, cache=True)
        finally:
            del os.environ["PROFKIT_CACHE_DIR"]
    return again[0], again[3] == cold


def hta(path):
    """(wall s, peak RSS MB) of HTA on a folder holding only this trace (a hard link where it can)."""
    with tempfile.TemporaryDirectory() as d:
        try:
            os.link(path, Path(d) / Path(path).name)
        except OSError:
            shutil.copy(path, Path(d) / Path(path).name)
        return measure([sys.executable, "-c", HTA_SCRIPT, d])


def condition(name, inputs, with_hta):
    """Measure every input under one condition; {label: {"ours": (s, MB, temporal), "hta": (s, MB)}}."""
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if name == "busy" else None
    try:
        out = {}
        for label, path in inputs.items():
            row = {"ours": profkit(path)}
            if with_hta and label in ("dense-500k", "owlv2 gzip", "owlv2 500 MB"):
                row["hta"] = hta(path)
            if label in ("dense-500k", "owlv2 gzip"):
                row["warm"] = warm(path, row["ours"][3])
            out[label] = row
            print(f"  {name}: {label} {row['ours'][0]:.2f} s {row['ours'][1]:.0f} MB"
                  + (f", HTA {row['hta'][0]:.1f} s {row['hta'][1]:.0f} MB" if row.get("hta") else ""),
                  file=sys.stderr)
        return out
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def kernels_of(label):
    return {"dense-1k": 1_000, "graph-1000k": 1_000_000, "zero-2000k": 2_000_000,
            **{f"dense-{n // 1000}k": n for n in SIZES}}.get(label)


def per_kernel(results):
    """{label: (µs per kernel, bytes per kernel)} beyond the 1 k-kernel trace's fixed cost."""
    base_s, base_mb = results["dense-1k"]["ours"][:2]
    out = {}
    for label, r in results.items():
        n = kernels_of(label)
        if n and n > 1_000:
            out[label] = ((r["ours"][0] - base_s) / (n - 1_000) * 1e6, (r["ours"][1] - base_mb) * 2**20 / (n - 1_000))
    return out


def table(name, results, refs):
    pk = per_kernel(results)
    lines = [f"**{name}** ({'a second process spins on one core' if name == 'busy' else 'idle machine'}):", "",
             "| input | MB of JSON | profkit | µs / kernel | bytes / kernel | HTA 0.5.0 | x faster | RSS ratio "
             "| busy = reference union |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for label, r in results.items():
        s, mb, temporal, _ = r["ours"]
        h = r.get("hta")
        size = refs["sizes"][label]
        busy_ok = ("yes" if abs(temporal["busy_us"] - refs["busy"][label]) <= 1e-6 * max(1.0, refs["busy"][label])
                   else f"NO ({temporal['busy_us']} vs {refs['busy'][label]})") if label in refs["busy"] else ""
        us, b = pk.get(label, (None, None))
        lines.append(f"| {label} | {size:.0f} | {s:.2f} s / {mb:.0f} MB | {'' if us is None else f'{us:.2f}'} | "
                     f"{'' if b is None else f'{b:.0f}'} | "
                     + (f"{h[0]:.1f} s / {h[1]:.0f} MB | {h[0] / s:.1f} | {mb / h[1]:.2f}" if h else " | | ")
                     + f" | {busy_ok} |")
    return lines


def targets(name, results, refs):
    busy = name == "busy"
    rows = []

    def vs(label, faster, rss):
        r = results[label]
        if not r.get("hta"):
            return None, "HTA not run"
        x, m = r["hta"][0] / r["ours"][0], r["ours"][1] / r["hta"][1]
        return x >= faster and m <= rss, f"{x:.1f}x, {m:.2f}x RSS"

    rows.append(("500 k-kernel dense: >= %dx HTA, <= 0.15x its RSS" % (15 if busy else 20),
                 *vs("dense-500k", 15 if busy else 20, 0.15)))
    s, mb = results["dense-1000k"]["ours"][:2]
    limit = 15 if busy else 10
    rows.append((f"1 M-kernel dense: <= {limit} s, <= 1 GB", s <= limit and mb <= 1024, f"{s:.2f} s, {mb:.0f} MB"))
    pk = per_kernel(results)
    us = [pk[f"dense-{n // 1000}k"][0] for n in SIZES]
    by = [pk[f"dense-{n // 1000}k"][1] for n in SIZES]
    mid_us, mid_b = sorted(us)[len(us) // 2], sorted(by)[len(by) // 2]
    flat = all(abs(u / mid_us - 1) <= 0.25 for u in us)
    linear = all(abs(b / mid_b - 1) <= 0.25 for b in by)
    rows.append(("cost per kernel 125 k -> 1 M: flat within ±25%, memory linear", flat and linear,
                 "µs/kernel " + " ".join(f"{u:.2f}" for u in us) + "; bytes/kernel " + " ".join(f"{b:.0f}" for b in by)))
    s, mb = results["zero-2000k"]["ours"][:2]
    rows.append(("2 M zero-length kernels: < 20 s, < 1 GB", s < 20 and mb < 1024, f"{s:.2f} s, {mb:.0f} MB"))
    rows.append(("owlv2 55 MB gzip: >= %dx HTA, <= 0.4x its RSS" % (5 if busy else 8),
                 *vs("owlv2 gzip", 5 if busy else 8, 0.4)))
    rows.append(("owlv2 500 MB plain: >= %dx HTA, <= 0.1x its RSS" % (15 if busy else 25),
                 *vs("owlv2 500 MB", 15 if busy else 25, 0.1)))
    warm_rows = {label: r["warm"] for label, r in results.items() if "warm" in r}
    ratios = {label: w / results[label]["ours"][0] for label, (w, _) in warm_rows.items()}
    rows.append(("re-analysis from the cache: <= 0.35x cold, identical bytes",
                 all(x <= 0.35 for x in ratios.values()) and all(same for _, same in warm_rows.values()),
                 "; ".join(f"{label} {ratios[label]:.2f}x, {'identical' if same else 'DIFFERENT'}"
                           for label, (_, same) in warm_rows.items())))
    bad = [label for label in refs["busy"]
           if abs(results[label]["ours"][2]["busy_us"] - refs["busy"][label]) > 1e-6 * max(1.0, refs["busy"][label])]
    rows.append(("dense traces: busy time = an independent interval union", not bad, "all equal" if not bad else
                 "differ: " + ", ".join(bad)))
    lines = ["", f"Targets, {name}:", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {t} | {'yes' if ok else 'not run' if ok is None else 'NO'} | {got} |" for t, ok, got in rows]
    return lines, all(ok for _, ok, _ in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("owlv2", type=Path)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "profkit-bench")
    ap.add_argument("--conditions", nargs="+", choices=("idle", "busy"), default=["idle", "busy"])
    ap.add_argument("--no-hta", action="store_true")
    ap.add_argument("--write-docs", action="store_true", help="replace the dense block of docs/performance.md")
    args = ap.parse_args()
    from performance import floor

    inputs = build(args.workdir, args.owlv2)
    refs = {"sizes": {k: json_bytes(p) / 2**20 for k, p in inputs.items()},
            "busy": {k: reference_busy(p) for k, p in inputs.items() if not k.startswith("owlv2")}}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = [f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/dense.py` "
           f"(load at the start: {load.split('load average:')[-1].strip()}); profkit and HTA 0.5.0 one run each, "
           "same condition, one after the other.", ""]
    met = True
    for name in args.conditions:
        results = condition(name, inputs, not args.no_hta)
        out += table(name, results, refs)
        lines, ok = targets(name, results, refs)
        out += lines + [""]
        met &= ok
    for label in ("dense-1000k", "zero-2000k", "owlv2 500 MB"):
        out.append(f"- floor, {label}: {floor(inputs[label])}")
    out.append("")
    out.append("all targets met" if met else "targets NOT all met")
    text = "\n".join(out)
    print(text)
    if args.write_docs:
        doc = DOCS.read_text()
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        tmp = DOCS.with_suffix(".tmp")
        tmp.write_text(doc[:a] + "\n" + text + "\n" + doc[b:])
        tmp.replace(DOCS)
    sys.exit(0 if met else 1)


def json_bytes(path):
    """Bytes of JSON text (a gzip file's uncompressed size, from its trailer: exact below 4 GB)."""
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return os.stat(path).st_size
        f.seek(-4, 2)
        return int.from_bytes(f.read(4), "little")


if __name__ == "__main__":
    main()
