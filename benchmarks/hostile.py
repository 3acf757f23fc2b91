"""Issue 24's table: each class of hostile input, built from a real trace, run by two checkouts.

    python benchmarks/hostile.py SHARED_TRACES_DIR --before OLD_CHECKOUT [--timeout 60]

For every construction it runs `profkit` from OLD_CHECKOUT and from this one (PYTHONPATH
pointing at each) under /usr/bin/time -v with a timeout, and prints exit status, wall time,
peak RSS and the first line of stderr of both, as a Markdown table. Constructions are written
to a temporary folder from kineto-rtx5080-mlp-train-eager.json.gz.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = "kineto-rtx5080-mlp-train-eager.json.gz"


def constructions(shared, d):
    """[(class, description, args, setup)]: `setup()` (re)writes the inputs just before each run."""
    text = gzip.decompress((shared / SOURCE).read_bytes())
    doc = json.loads(text)
    kernels = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    rest = [e for e in doc["traceEvents"] if e.get("cat") != "kernel"]

    def write(name, data):
        path = d / name
        path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
        return path

    def variant(edit):
        x = json.loads(text)
        edit(x)
        return x

    out = []
    one = variant(lambda x: x.update(traceEvents=rest + [dict(kernels[0], name="cpp_fused_" * 600)]))
    out.append(("regex", "one kernel named 'cpp_fused_' x 600 (6 KB)", ["analyze", "--no-cache", d / "cubic.json"],
                lambda: write("cubic.json", one)))
    six = variant(lambda x: x.update(traceEvents=rest + [dict(kernels[i], name="cpp_fused_" * 600 + str(i))
                                                         for i in range(60)]))
    out.append(("regex", "60 kernels named 'cpp_fused_' x 600 + a number", ["analyze", "--no-cache", d / "cubic60.json"],
                lambda: write("cubic60.json", six)))
    tmpl = variant(lambda x: x.update(traceEvents=rest + [dict(kernels[0], name="k<" + "a" * 30000 + ">")]))
    out.append(("regex", "terminal view of a kernel 'k<' + 'a' x 30000 + '>'", ["analyze", "--no-cache", d / "tmpl.json"],
                lambda: write("tmpl.json", tmpl)))
    m = re.compile(rb'"dur": [0-9.]+').search(text, text.index(b'"cat": "kernel"', len(text) // 2))
    nan = text[:m.start()] + b'"dur": NaN' + text[m.end():]
    out.append(("non-finite", "one kernel with \"dur\": NaN", ["analyze", "--no-cache", d / "nan.json"],
                lambda: write("nan.json", nan)))
    out.append(("data loss", "annotate t.json -o t.json, t.json cut short",
                ["annotate", d / "self.json", "-o", d / "self.json"], lambda: write("self.json", text[:len(text) // 2])))
    at = text.index(b'"name": "', len(text) // 2) + 9
    out.append(("non-finite", "a lone surrogate escape in a name", ["analyze", "--no-cache", d / "sur.json"],
                lambda: write("sur.json", text[:at] + b"\\ud800" + text[at:])))
    devs = variant(lambda x: x.update(traceEvents=rest + [
        dict(kernels[i % len(kernels)], pid=i, args={**kernels[i % len(kernels)]["args"], "device": i})
        for i in range(10_000)]))
    out.append(("scale", "10 000 devices", ["analyze", "--no-cache", d / "devices.json"],
                lambda: write("devices.json", devs)))
    t0 = kernels[0]["ts"]
    names = variant(lambda x: x.update(traceEvents=rest + [
        {"ph": "X", "cat": "kernel", "name": f"void kernel_{i}<float>(int)", "pid": 0, "tid": 7, "ts": t0 + 2.0 * i,
         "dur": 1.0, "args": {"device": 0, "stream": 7}} for i in range(200_000)]))
    out.append(("scale", "200 000 distinct kernel names", ["analyze", "--no-cache", d / "names.json"],
                lambda: write("names.json", names)))
    dup = variant(lambda x: x["traceEvents"].append(dict(kernels[10])))
    out.append(("physical", "a duplicated kernel event (kernel_wait)", ["analyze", "--json", "--no-cache", d / "dup.json"],
                lambda: write("dup.json", dup)))
    for label, edit in (("a step number of 23 digits", lambda x: [e.update(name="ProfilerStep#" + "9" * 23)
                                                                   for e in x["traceEvents"]
                                                                   if str(e.get("name", "")).startswith("ProfilerStep#")]),
                        ("every duration 5e-324", lambda x: [e.update(dur=5e-324) for e in x["traceEvents"] if "dur" in e]),
                        ('deviceProperties: ["a"]', lambda x: x.update(deviceProperties=["a"]))):
        name = f"crash{len(out)}.json"
        data = variant(edit)
        out.append(("crash", label, ["analyze", "--no-cache", d / name], lambda n=name, v=data: write(n, v)))
    manifest = {"schema": "profkit.run/1", "command": "x", "model": "gpt2", "device": {}, "dtype": "float32",
                "shapes": {}, "created": "2026-01-01T00:00:00+00:00", "peaks": None,
                "modes": [{"mode": "eager", "trace": 5, "sidecar": "t.meta.json", "timing": {}, "noise": None}]}
    out.append(("crash", "a run.json whose trace is 5", ["report", d / "run.json", "-o", d / "r.html"],
                lambda: write("run.json", manifest)))
    out.append(("input", "a UTF-8 BOM before the trace", ["analyze", "--no-cache", d / "bom.json"],
                lambda: write("bom.json", b"\xef\xbb\xbf" + text)))
    return out


def run(checkout, args, timeout):
    env = {**os.environ, "PYTHONPATH": str(checkout), "PROFKIT_NO_CACHE": "1"}
    p = subprocess.Popen(["/usr/bin/time", "-v", sys.executable, "-m", "profkit", *map(str, args)], env=env,
                         cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # profkit too, not only /usr/bin/time
        p.communicate()
        return f"timeout > {timeout} s", "", ""
    r = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr).group(1)
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    code = re.search(r"Exit status: (\d+)", r.stderr)
    said = [line for line in r.stderr.splitlines() if line.startswith("profkit")] or \
        [line.strip() for line in r.stdout.splitlines() if re.search(r"non-finite|surrogate|skipped \d", line)]
    tb = " (traceback)" if "Traceback" in r.stderr else ""
    return f"exit {code.group(1) if code else '?'}{tb}, {seconds:.1f} s, {rss:.0f} MB", (said[0][:110] if said else ""), \
        r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shared", type=Path)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--timeout", type=int, default=60)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="profkit-hostile-"))
    print("| class | input | before | after |\n|---|---|---|---|")
    try:
        for cls, label, args, setup in constructions(a.shared, d):
            cells = []
            for checkout in (a.before, REPO):
                setup()
                size = (d / "self.json").stat().st_size if cls == "data loss" else None
                took, said, out = run(checkout, args, a.timeout)
                if cls == "data loss":
                    said = f"t.json {size} -> {(d / 'self.json').stat().st_size} bytes; " + said
                if cls == "physical" and out:
                    s = json.loads(out)
                    said = "kernel_wait_us " + ", ".join(f"{x['kernel_wait_us']:.1f}" for x in s["streams"])
                if cls in ("non-finite", "input") and not said:
                    said = "(no warning)"
                cells.append(f"{took}; {said}".replace("|", "/"))
            print(f"| {cls} | {label} | {cells[0]} | {cells[1]} |", flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
