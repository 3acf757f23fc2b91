"""The checks of benchmarks/gpu_smoke.sh, run on its output folder (see docs/gpu-smoke.md).

    python benchmarks/gpu_smoke_check.py OUT

reads OUT/analysis/{eager,compiled,cudagraph}.json (`profkit analyze --json` of each
capture; their "capture" entry is the capture's sidecar) and OUT/report.html, writes
OUT/summary.json and OUT/summary.txt, and exits 0 when every check passes, 1 when one
fails, 2 when the folder is not a smoke-check output. Standard library only.
"""

import json
import sys
from pathlib import Path

MODES = ("eager", "compiled", "cudagraph")


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_graph_replays_decode(runs):
    """The cudagraph trace replays the decode step from graph launches: one launch per decode
    step of every profiled generation, each launching GPU work issued inside a decode region,
    about as many kernels per launch as an eager decode step runs."""
    g, e = runs["cudagraph"], runs["eager"]
    graphs = _get(g, "cuda_graphs") or {}
    side = g.get("capture") or {}
    steps, new = side.get("steps"), side.get("new_tokens")
    launches, kernels = graphs.get("launches"), graphs.get("kernels_per_launch_mean")
    decode_ops = _get(g, "phases", "decode", "ops")
    eager_ops, eager_gens = _get(e, "phases", "decode", "ops"), _get(e, "phases", "decode", "count")
    if not all(_num(x) for x in (steps, new, launches, kernels, decode_ops, eager_ops, eager_gens)) or not eager_gens:
        return False, "the cudagraph or eager analysis lacks cuda_graphs, phases.decode or the capture settings"
    want = steps * new
    eager_per_step = eager_ops / (eager_gens * new)
    problems = []
    if launches != want:
        problems.append(f"{launches} graph launches, expected {steps} generations x {new} steps = {want}")
    if graphs.get("launches_with_work") != launches:
        problems.append(f"only {graphs.get('launches_with_work')} of {launches} launches replayed GPU work")
    if not kernels or kernels < 0.5 * eager_per_step:
        problems.append(f"{kernels:.1f} kernels per launch vs {eager_per_step:.1f} GPU ops per eager decode step")
    if _num(graphs.get("gpu_ops")) and graphs["gpu_ops"] > decode_ops:
        problems.append(f"{graphs['gpu_ops']} replayed GPU ops but only {decode_ops} issued inside decode regions")
    detail = (f"{launches} launches, {kernels:.1f} kernels each (eager decode step: {eager_per_step:.1f} GPU ops)")
    return not problems, "; ".join(problems) or detail


def check_tokens_match(runs):
    """Greedy tokens of CUDA-graph replay equal eager's (same weights, prompt and shapes)."""
    a, b = _get(runs["eager"], "capture", "output_tokens"), _get(runs["cudagraph"], "capture", "output_tokens")
    if not a or not b:
        return False, "a sidecar lacks output_tokens"
    if a.get("sha256") != b.get("sha256"):
        return False, f"tokens differ: eager starts {a.get('first', [])[:8]}, cudagraph {b.get('first', [])[:8]}"
    return True, f"equal (sha256 {a['sha256'][:12]}, {len(a.get('first', []))} tokens per sequence)"


def check_idle_drops(runs):
    """GPU idle % is lower under CUDA-graph replay than in eager mode (launch gaps disappear)."""
    e, g = _get(runs["eager"], "temporal", "idle_pct"), _get(runs["cudagraph"], "temporal", "idle_pct")
    if not (_num(e) and _num(g)):
        return False, "an analysis lacks temporal.idle_pct (no GPU activity recorded?)"
    return g < e, f"idle {g:.1f}% cudagraph vs {e:.1f}% eager"


def check_timing(runs):
    """TTFT and tokens/s are recorded and positive for every mode."""
    bad, parts = [], []
    for mode, r in runs.items():
        t = _get(r, "capture", "timing") or {}
        ok = all(_num(t.get(k)) and t[k] > 0 for k in ("ttft_ms", "tokens_per_s"))
        (parts if ok else bad).append(f"{mode} TTFT {t.get('ttft_ms')} ms, {t.get('tokens_per_s')} tokens/s")
    return not bad, "; ".join(bad or parts)


def check_peak_memory(runs):
    """Every capture recorded the CUDA allocator's peak, and it holds at least the weights."""
    bad, parts = [], []
    for mode, r in runs.items():
        side = r.get("capture") or {}
        peak, kind = side.get("peak_memory_bytes"), side.get("peak_memory_kind")
        weights = _get(r, "roofline", "weight_bytes")
        ok = kind == "cuda_max_allocated" and _num(peak) and peak > 0 and (not _num(weights) or peak >= weights)
        (parts if ok else bad).append(f"{mode} {kind} {peak}")
    return not bad, "; ".join(bad or parts)


def check_on_gpu(runs):
    """Every trace holds CUDA GPU activity."""
    kinds = {mode: _get(r, "device", "kind") for mode, r in runs.items()}
    counts = {mode: _get(r, "device", "count") for mode, r in runs.items()}
    ok = all(k == "cuda" for k in kinds.values()) and all(_num(c) and c > 0 for c in counts.values())
    return ok, ", ".join(f"{m}: {kinds[m]} x{counts[m]}" for m in runs)


CHECKS = (("on_gpu", check_on_gpu), ("graph_replays_decode", check_graph_replays_decode),
          ("tokens_match", check_tokens_match), ("idle_drops", check_idle_drops),
          ("timing", check_timing), ("peak_memory", check_peak_memory))


def run_checks(runs, report=None):
    """[(name, ok, detail)] for the analyses `runs` (mode -> analyze JSON) and the report path."""
    results = []
    for name, fn in CHECKS:
        try:
            ok, detail = fn(runs)
        except (TypeError, ValueError, KeyError, ZeroDivisionError) as e:  # a malformed analysis fails the check
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append((name, bool(ok), detail))
    if report is not None:
        size = report.stat().st_size if report.is_file() else 0
        ok = size > 0 and all(m in report.read_text(encoding="utf-8", errors="replace") for m in MODES)
        results.append(("report", ok, f"{report.name}: {size:,} bytes" + ("" if ok else ", missing or incomplete")))
    return results


def load_runs(folder):
    runs = {}
    for mode in MODES:
        path = folder / "analysis" / f"{mode}.json"
        try:
            runs[mode] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SystemExit(f"gpu_smoke_check: cannot read {path}: {e}") from None
    return runs


def main(argv):
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: gpu_smoke_check.py OUT", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    try:
        runs = load_runs(folder)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    results = run_checks(runs, folder / "report.html")
    passed = all(ok for _, ok, _ in results)
    summary = {"passed": passed, "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in results],
               "timing": {m: _get(r, "capture", "timing") for m, r in runs.items()},
               "idle_pct": {m: _get(r, "temporal", "idle_pct") for m, r in runs.items()},
               "device": _get(runs["eager"], "capture", "device")}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    lines = [f"{'PASS' if ok else 'FAIL'}  {n}: {d}" for n, ok, d in results]
    lines.append("all checks passed" if passed else "SOME CHECKS FAILED")
    (folder / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
