#!/usr/bin/env bash
# GPU smoke check for profkit: capture gpt2 eager, compiled and cudagraph on CUDA, analyse the
# traces, render the report, and check the results (benchmarks/gpu_smoke_check.py).
# Needs a CUDA GPU with torch and transformers installed; no network. See docs/gpu-smoke.md.
#
#   benchmarks/gpu_smoke.sh OUT [--wheels DIR] [--budget SECONDS]
#
# OUT receives traces/, analysis/, report.html, summary.json, summary.txt and the logs.
# Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or no usable GPU,
# 3 a step failed or ran past the time budget (default 480 s).
set -uo pipefail

usage() {
    echo "usage: benchmarks/gpu_smoke.sh OUT [--wheels DIR] [--budget SECONDS]" >&2
    echo "  OUT       folder for traces, analyses, report and summary (created)" >&2
    echo "  --wheels  install profkit's other dependencies from this folder of wheels (pip --no-index)" >&2
    echo "  --budget  seconds for the whole run (default 480)" >&2
    exit "${1:-2}"
}

OUT="" WHEELS="" BUDGET=480
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage 0 ;;
        --wheels) [ $# -ge 2 ] || usage; WHEELS=$2; shift 2 ;;
        --budget) [ $# -ge 2 ] || usage; BUDGET=$2; shift 2 ;;
        -*) echo "gpu_smoke: unknown option $1" >&2; usage ;;
        *) [ -z "$OUT" ] || { echo "gpu_smoke: one OUT folder only" >&2; usage; }; OUT=$1; shift ;;
    esac
done
[ -n "$OUT" ] || usage
case "$BUDGET" in ''|*[!0-9]*) echo "gpu_smoke: --budget takes whole seconds, got '$BUDGET'" >&2; exit 2 ;; esac
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then echo "gpu_smoke: --wheels $WHEELS is not a folder" >&2; exit 2; fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
START=$SECONDS

remaining() { echo $((BUDGET - (SECONDS - START))); }

step() {  # step NAME FILE command...: run in the time left; stdout to OUT/FILE, stderr to OUT/FILE.stderr
    local name=$1 file=$2 left
    shift 2
    left=$(remaining)
    if [ "$left" -le 0 ]; then echo "gpu_smoke: out of time before $name" >&2; exit 3; fi
    echo "== $name ($left s left)"
    timeout "$left" "$@" >"$OUT/$file" 2>"$OUT/$file.stderr"
    local rc=$?
    if [ $rc -ne 0 ]; then
        tail -n 20 "$OUT/$file" "$OUT/$file.stderr" >&2
        if [ $rc -eq 124 ]; then echo "gpu_smoke: $name ran out of time" >&2; else echo "gpu_smoke: $name failed ($rc)" >&2; fi
        exit 3
    fi
}

if [ -n "$WHEELS" ]; then
    "$PY" -m pip install --no-index --find-links "$WHEELS" "$WHEELS"/*.whl >/dev/null || { echo "gpu_smoke: pip install from $WHEELS failed" >&2; exit 2; }
fi
if ! "$PY" -c "import torch, transformers, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_smoke: needs torch and transformers with a CUDA device; $PY has none" >&2
    exit 2
fi
mkdir -p "$OUT/traces" "$OUT/analysis" || exit 2

# Small settings: gpt2 in float32 (tokens are compared across modes), 4 x 128-token prompts, 32 new tokens.
step "capture gpt2 eager, compiled, cudagraph" capture.log \
    "$PY" -m profkit capture --model gpt2 --mode eager,compiled,cudagraph --device cuda --batch 4 \
    --prompt-len 128 --new-tokens 32 --warmup 2 --steps 3 --out "$OUT/traces"
for mode in eager compiled cudagraph; do
    trace="$OUT/traces/gpt2-$mode-b4-s128.json.gz"
    step "analyze $mode" "analysis/$mode.json" "$PY" -m profkit analyze --json "$trace"
done
step "report" report.log "$PY" -m profkit report "$OUT"/traces/gpt2-*.json.gz -o "$OUT/report.html" --no-hta
echo "== checks ($(remaining) s left)"
"$PY" "$REPO/benchmarks/gpu_smoke_check.py" "$OUT"
