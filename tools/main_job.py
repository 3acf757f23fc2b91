"""Run the README's main job once and quote that one run in the README and docs/report.png.

    python tools/main_job.py run [--workdir DIR]   # capture + report in DIR (default: a new temp dir)
    python tools/main_job.py check                 # exit 1 if README or report.png is not the recorded run

`run` executes the main job's profkit commands (MAIN, the tail of the README's quick-start
line) in an empty folder with the current environment, timing each and reading the machine's
load around it; then it records what the README quotes in docs/main-job.json (timings, load,
the capture's terminal output, class shares, the roofline table, every file written), takes
docs/report.png of the report in headless Chromium (1400 px wide), and rewrites the README
between its main-job markers from that record. `check` (run by tests/test_docs.py) renders the
record again and compares, and checks the screenshot is the one recorded: the README cannot
drift from the run it quotes.
"""

import argparse
import datetime
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RECORD = REPO / "docs" / "main-job.json"
SHOT = REPO / "docs" / "report.png"
MAIN = ("profkit capture --model gpt2 --mode eager,compiled", "profkit report traces/run.json")
BEGIN, END = "<!-- main-job: begin (tools/main_job.py run writes this part) -->", "<!-- main-job: end -->"
CLASSES = ("tensor_contraction", "normalization", "elementwise", "attention", "memory", "other")


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _run(command, cwd):
    from profkit.capture.machine import Competition

    others = Competition().start()
    t0, before = time.perf_counter(), _load()
    out = subprocess.run(shlex.split(command), cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "100", "TERM": "dumb"})
    if out.returncode != 0:
        sys.exit(f"{command} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return {"command": command, "seconds": round(time.perf_counter() - t0, 1), "load_before": before,
            "load_after": _load(), "others_pct": others.others_pct(), "stdout": out.stdout,
            "notes": [line for line in out.stderr.splitlines() if line.startswith("profkit: ")]}


def _analysis(trace):
    out = subprocess.run([sys.executable, "-m", "profkit", "analyze", "--json", str(trace)],
                         capture_output=True, text=True, check=True)
    s = json.loads(out.stdout)
    roof = s["roofline"] or {}
    phases = [(name, roof.get(key)) for key, name in (("prefill", "prefill (TTFT)"), ("decode_step", "decode step"))]
    return {"mode": s["mode"]["name"], "classes_pct": {c: s["classes"][c]["pct"] for c in CLASSES},
            "roofline": [{"phase": name, "measured_ms": p["measured_ms"], "limit_ms": p["limit_ms"],
                          "pct_of_limit": p["pct_of_limit"], "bound": p["bound"]} for name, p in phases if p],
            "roofline_peaks": (roof.get("device") or {}).get("source"),
            "roofline_peaks_note": (roof.get("device") or {}).get("note")}


def _screenshot(page, dest):
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        sys.exit("no Chromium for the screenshot: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", "--window-size=1400,1900", "--virtual-time-budget=15000",
                        f"--screenshot={dest}", page.resolve().as_uri()], capture_output=True, check=True, timeout=300)


def run(workdir):
    work = Path(workdir or tempfile.mkdtemp(prefix="profkit-main-job-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        sys.exit(f"{work} is not empty: the main job starts from an empty folder")
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    steps = [_run(c, work) for c in MAIN]
    sides = [json.loads(p.read_text()) for p in sorted((work / "traces").glob("*.meta.json"))]
    files = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    record = {
        "started": started, "cpu": sides[0]["peaks"]["cpu"] if sides[0].get("peaks") else sides[0]["device"]["name"],
        "cpus": os.cpu_count(), "steps": steps, "files": files,
        "runs": {s["mode"]: {"trace": s["trace"], "timing": s["timing"], "peaks": s.get("peaks"),
                             **_analysis(work / "traces" / s["trace"])} for s in sides},
    }
    _screenshot(work / "reports" / "traces.html", SHOT)
    record["report_png_sha256"] = hashlib.sha256(SHOT.read_bytes()).hexdigest()
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    README.write_text(with_block(README.read_text(), render(record)))
    print(f"ran in {work}; wrote {RECORD.relative_to(REPO)}, {SHOT.relative_to(REPO)}, README.md")


def _ms(x):
    return "–" if x is None else f"{x:.1f} ms"


def _pct(x):
    return "–" if x is None else f"{x:.0f}%"


def render(rec):
    """The README's main-job part, from the record of one run."""
    cap, rep = rec["steps"]
    eager, compiled = rec["runs"]["eager"], rec["runs"]["compiled"]
    peaks = eager["peaks"] or {}
    load = (f"load average {cap['load_before']:.2f} → {cap['load_after']:.2f} on {rec['cpus']} CPUs, other "
            f"processes took {_pct(cap['others_pct'])} of the CPU time")
    lines = [
        BEGIN,
        f"The run quoted here and in the screenshot: {rec['started'][:10]}, {rec['cpu']}, {load}. The capture "
        f"took {cap['seconds'] / 60:.1f} min and the report {rep['seconds']:.0f} s; the machine's noise verdict "
        "for each mode is in the table.",
        "",
        "```",
        *[n for n in cap["notes"]],
        *cap["stdout"].rstrip("\n").splitlines(),
        "```",
        "",
        f"Tensor contraction (the GEMMs) takes {_pct(eager['classes_pct']['tensor_contraction'])} of eager's op time "
        f"and {_pct(compiled['classes_pct']['tensor_contraction'])} of compiled's; each run's min–max and CV say "
        "what a difference between them must exceed to be real. The report's roofline table for this run, against "
        f"the CPU peaks the capture used ({peaks.get('bandwidth_gbs', 0):.1f} GB/s, "
        f"{(peaks.get('tflops') or {}).get('fp32', 0):.3f} TFLOP/s fp32, {peaks.get('origin', '?').split(',')[0]}):",
        "",
        "| run | phase | measured | roofline limit | % of the limit | bound by |",
        "|---|---|---|---|---|---|",
        *[f"| {mode} | {p['phase']} | {_ms(p['measured_ms'])} | {_ms(p['limit_ms'])} | {_pct(p['pct_of_limit'])} "
          f"| {p['bound'] or '–'} |" for mode, r in rec["runs"].items() for p in r["roofline"]],
        "",
        "Every file the main job writes (`traces/` from the capture, `reports/` from the report; "
        "`reports/traces_traces/` holds the annotated trace copies Perfetto opens):",
        "",
        "```",
        *rec["files"],
        "```",
        END,
    ]
    return "\n".join(lines)


def with_block(text, block):
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md has no main-job markers ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN, 1)
    return head + block + rest.split(END, 1)[1]


def check():
    rec = json.loads(RECORD.read_text())
    problems = []
    if with_block(README.read_text(), render(rec)) != README.read_text():
        problems.append("README.md's main-job part is not what docs/main-job.json renders")
    if hashlib.sha256(SHOT.read_bytes()).hexdigest() != rec["report_png_sha256"]:
        problems.append("docs/report.png is not the screenshot of the recorded run")
    quick = next(line for line in README.read_text().splitlines() if line.startswith("python3 -m venv"))
    if not quick.endswith(" && ".join(MAIN)):
        problems.append("the README's main command does not end with the commands this tool runs")
    for p in problems:
        print(f"main_job: {p}; rerun python tools/main_job.py run", file=sys.stderr)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("--workdir", help="an empty folder to run in (default: a new temp dir)")
    sub.add_parser("check")
    a = ap.parse_args()
    if a.what == "run":
        run(a.workdir)
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
