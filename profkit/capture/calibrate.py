"""Measure this machine's achievable memory bandwidth and matmul throughput.

CPU traces have no datasheet peak to compare against, so `profkit calibrate`
measures one: a STREAM-style triad (McCalpin, "Memory Bandwidth and Machine
Balance in Current High Performance Computers", IEEE TCCA Newsletter 1995:
a = b + s*c, counted as 3 arrays moved per element, no write-allocate traffic)
and a square matmul per dtype (2*n^3 flops). Arrays are sized well past the
last-level cache; each measurement is the best of a few repetitions, as STREAM
reports, because the best run is the one least disturbed by other processes.
"""

import datetime
import json
import platform
import time
from pathlib import Path

import torch

from profkit.analysis.hardware import CPU_NAME, DEFAULT_CALIBRATION
from profkit.errors import ProfkitError
from profkit.fileio import write_text_atomic

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _best(fn, reps):
    fn()  # warm-up: page faults, thread pool start, kernel selection
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def triad(n, reps=5):
    """(GB/s, seconds) of a = b + 3*c over n float32 elements."""
    b = torch.rand(n)
    c = torch.rand(n)
    a = torch.empty(n)
    secs = _best(lambda: torch.add(b, c, alpha=3.0, out=a), reps)
    return 3 * n * 4 / secs / 1e9, secs


def matmul(n, dtype, reps=3):
    """(TFLOP/s, seconds) of an n x n by n x n matmul in `dtype`."""
    x = torch.rand(n, n).to(dtype)
    y = torch.rand(n, n).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    secs = _best(lambda: torch.matmul(x, y, out=out), reps)
    return 2 * n**3 / secs / 1e12, secs


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def calibrate(triad_mb=512, matmul_n=2048, reps=3):
    """Measure and return the calibration dict (nothing is written)."""
    if triad_mb <= 0 or matmul_n <= 0 or reps <= 0:
        raise ProfkitError("calibration sizes and repetitions must be positive")
    n = max(1, int(triad_mb * 1e6 / 4 / 3))  # three float32 arrays share triad_mb
    gbs, tsecs = triad(n, reps)
    result = {
        "device": CPU_NAME,
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "bandwidth_gbs": gbs,
        "triad": {"elements": n, "bytes_per_run": 3 * n * 4, "best_s": tsecs, "repetitions": reps},
        "tflops": {},
        "matmul": {},
    }
    for key, dtype in DTYPES.items():
        tf, secs = matmul(matmul_n, dtype, reps)
        result["tflops"][key] = tf
        result["matmul"][key] = {"n": matmul_n, "best_s": secs, "repetitions": reps}
    return result


def save(result, out=None):
    """Write the calibration atomically; returns the path written."""
    path = Path(out or DEFAULT_CALIBRATION).expanduser()
    write_text_atomic(path, json.dumps(result, indent=2) + "\n")
    return path
