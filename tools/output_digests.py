"""Digests of `profkit analyze --json` on every shared trace, to prove a refactor changes no output.

    python tools/output_digests.py > before.json          # on the old commit
    python tools/output_digests.py --check before.json    # on the new one: exit 1 on any difference

Each trace of ../shared/traces/real (or PROFKIT_SHARED) is analysed in a fresh `profkit`
process with the cache off, under the default options and under `--window steps --all-gaps`;
the 8-rank DLRM job is analysed as a folder; `--extra PATH` adds traces (CPU captures).
The digest is the SHA-256 of the JSON bytes, with the `trace` paths made relative so two
checkouts compare and moved source paths (MOVED) written as they were.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VARIANTS = {"default": [], "steps-all-gaps": ["--window", "steps", "--all-gaps"]}
# Source paths that output text names (a finding's action), as they were before the layout of
# docs/architecture.md: a file moving is not an output change.
MOVED = {"profkit/analysis/classes/rules.py": "profkit/analysis/rules.py"}


def shared_root():
    env = os.environ.get("PROFKIT_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return base / "traces" / "real"


def digest(path, args, base):
    env = {**os.environ, "PROFKIT_NO_CACHE": "1"}
    out = subprocess.run([sys.executable, "-m", "profkit", "analyze", "--json", "--no-cache", *args, str(path)],
                         capture_output=True, env=env)
    text = out.stdout.decode().replace(str(base) + "/", "")
    for new, old in MOVED.items():
        text = text.replace(new, old)
    return f"rc={out.returncode} " + hashlib.sha256(text.encode()).hexdigest()


def inputs(extra):
    root = shared_root()
    traces = sorted(p for p in root.rglob("*.json.gz") if "memory_analysis" not in p.parts) if root.exists() else []
    return root, traces + [Path(p).resolve() for p in extra]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", type=Path, help="compare with a saved digest file")
    ap.add_argument("--extra", nargs="*", default=[], help="more traces (e.g. CPU captures)")
    ap.add_argument("-j", type=int, default=2)
    a = ap.parse_args()
    root, traces = inputs(a.extra)
    jobs = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(a.j) as pool:
        ranks = sorted(root.glob("kineto-v100x8-dlrm-train-rank*.json.gz"))
        if ranks:
            job = Path(tmp) / "dlrm"
            job.mkdir()
            for r in ranks:
                (job / r.name).symlink_to(r)
            jobs["dlrm-job"] = pool.submit(digest, job, [], tmp)
        for t in traces:
            base = root if t.is_relative_to(root) else t.parent
            name = str(t.relative_to(base)) if t.is_relative_to(root) else t.name
            for v, args in VARIANTS.items():
                jobs[f"{name} [{v}]"] = pool.submit(digest, t, args, base)
        got = {k: f.result() for k, f in jobs.items()}
    if not a.check:
        print(json.dumps(got, indent=1, sort_keys=True))
        return 0
    want = json.loads(a.check.read_text())
    bad = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    for k in bad:
        print(f"differs: {k}: {want.get(k)} -> {got.get(k)}")
    print(f"{len(got) - len(bad)} of {len(got)} outputs identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
