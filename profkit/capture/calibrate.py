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
import os
import time
from pathlib import Path

import torch

from profkit.capture.machine import Competition, others_busy_now
from profkit.common.hardware import CPU_NAME, cpu_model, default_calibration, is_busy, load_condition, load_note
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


def matmul_size(dtype, largest, budget_s=0.25):
    """The largest power-of-two n <= `largest` whose n x n matmul in `dtype` takes about `budget_s`.

    Some dtypes have no fast CPU kernel (float16 matmuls without AMX-FP16 run about
    a thousand times slower than bfloat16), and a loaded machine slows every one:
    sizing each dtype to a time budget keeps the whole calibration within seconds.
    """
    n = min(512, largest)  # smaller products measure call overhead, not throughput
    while n * 2 <= largest:
        _, secs = matmul(n, dtype, reps=2)
        if secs * 8 > budget_s:  # doubling n multiplies the work by 8
            break
        n *= 2
    return n


def machine_load(others_pct=None):
    """{load_avg, cpus, others_pct, busy}: the 1-minute load average, the CPUs, and the share
    of CPU time other processes took while measuring (None: not known); busy by is_busy."""
    cpus = os.cpu_count() or 1
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:  # not reported on this OS
        load = None
    return {"load_avg": load, "cpus": cpus, "others_pct": others_pct, "busy": is_busy(others_pct, load, cpus)}


def calibrate(triad_mb=512, matmul_n=2048, reps=3):
    """Measure and return the calibration dict (nothing is written)."""
    if triad_mb <= 0 or matmul_n <= 0 or reps <= 0:
        raise ProfkitError("calibration sizes and repetitions must be positive")
    n = max(1, int(triad_mb * 1e6 / 4 / 3))  # three float32 arrays share triad_mb
    competition = Competition().start()
    t0 = time.perf_counter()
    gbs, tsecs = triad(n, reps)
    result = {
        "device": CPU_NAME,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load": None,
        "bandwidth_gbs": gbs,
        "triad": {"elements": n, "bytes_per_run": 3 * n * 4, "best_s": tsecs, "repetitions": reps},
        "tflops": {},
        "matmul": {},
    }
    for key, dtype in DTYPES.items():
        n_used = matmul_size(dtype, matmul_n)
        tf, secs = matmul(n_used, dtype, reps)
        result["tflops"][key] = tf
        result["matmul"][key] = {"n": n_used, "best_s": secs, "repetitions": reps}
    result["seconds"] = round(time.perf_counter() - t0, 2)
    result["load"] = machine_load(competition.others_pct())
    return result


def save(result, out=None):
    """Write the calibration atomically; returns the path written."""
    path = Path(out or default_calibration()).expanduser()
    write_text_atomic(path, json.dumps(result, indent=2) + "\n")
    return path


def _matches_this_machine(data):
    return (isinstance(data, dict) and data.get("cpu") == cpu_model() and data.get("cores") == os.cpu_count()
            and isinstance(data.get("bandwidth_gbs"), (int, float)) and isinstance(data.get("tflops"), dict))


def _best_of(old, new):
    """Each peak the higher of two calibrations, as STREAM keeps its best run: the one least
    disturbed by other processes. The load is the newer measurement's."""
    tflops = {k: max((x for x in (old["tflops"].get(k), new["tflops"].get(k)) if x is not None), default=None)
              for k in {**old["tflops"], **new["tflops"]}}
    return {**new, "bandwidth_gbs": max(old["bandwidth_gbs"], new["bandwidth_gbs"]), "tflops": tflops}


def cpu_peaks(notify=None, measure=calibrate, others_now=others_busy_now):
    """The peaks a CPU capture records in its sidecar: the cached calibration when it is
    of this machine (CPU model and core count), else measured now and cached.

    A cached calibration measured under load is provisional: when the machine is quiet now
    (other processes take at most BUSY_OTHERS_PCT of the CPU time over a second,
    `others_now`) it is measured again, and the new one replaces it if it was quiet too
    (else each peak keeps the higher of the two, still provisional).
    `notify(text)` hears what happened.
    """
    say = notify or (lambda text: None)
    path = default_calibration()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    if not _matches_this_machine(data):
        say(f"measuring this CPU's peaks once for the roofline and MUE (a few seconds; cached in {path}, "
            "`profkit calibrate` re-measures)")
        data = measure()
        save(data, path)
        origin = f"measured by this capture, cached in {path}"
    elif load_condition(data.get("load")) and not machine_load(others_now())["busy"]:
        say(f"the cached CPU peaks were {load_condition(data['load'])}; the machine is quiet now: "
            "measuring them again")
        fresh = measure()
        data = fresh if not fresh["load"]["busy"] else _best_of(data, fresh)
        save(data, path)
        origin = f"re-measured by this capture on a quiet machine, cached in {path}"
    else:
        origin = f"cached in {path}"
    note = load_note(data.get("load"))
    if note:
        say(f"the CPU peaks were {note}")
    keys = ("device", "cpu", "cores", "date", "load", "bandwidth_gbs", "tflops")
    return {**{k: data.get(k) for k in keys}, "origin": origin}
