"""Run a sweep's points one after another into its folder, resuming where it stopped.

Each finished point is one row appended to results.csv before the next starts,
so an interruption loses at most the point in progress. An out-of-memory point
is recorded as "oom" and the larger batches of its family (same workload, model,
groups, mode and length) are recorded as "skipped" without running: they would
run out of memory too.
"""

import ctypes
import gc
import json
import signal
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from time import perf_counter
from typing import NamedTuple

import torch

from profkit import __version__
from profkit.common.hardware import load_calibration, match_device
from profkit.analysis.options import AnalysisOptions
from profkit.analysis.cost.roofline import roofline
from profkit.common.dtypes import DTYPE_BYTES
from profkit.capture.run import capture_run, check_out_dir, device_info
from profkit.capture.sdpa import sdpa_cost, sdpa_run
from profkit.errors import OutOfMemory, ProfkitError
from profkit.fileio import write_text_atomic
from profkit.runfiles.sidecar import capture_of
from profkit.sweep import store
from profkit.sweep.store import CLASS_COLUMNS, COLUMNS, FINAL, MANIFEST, ResultsFile

MIB = 2**20


class _Run(NamedTuple):
    """What every point of one sweep shares: the plan, its folder, the command line
    recorded in each sidecar, the device's peaks (None: unknown) and the analysis options."""
    plan: object
    out: Path
    command: str
    peaks: object
    options: AnalysisOptions


def run_sweep(plan, out, *, command="", progress=None, calibration=None, rules=()):
    """Run every point of `plan` that `out` does not hold yet; returns the rows of all points.

    `rules`: the user's classification rules, for the class shares of profiled points.

    `progress` has begin(total, done), start(point), phase(name, done, total) and finish(point, row).
    """
    out = check_out_dir(out)
    run = _Run(plan, out, command, _peak_device(plan, calibration),
               AnalysisOptions(calibration=calibration, rules=tuple(rules)))
    with store.sweep_lock(out), _sigterm_interrupts():
        results, rows = _open(plan, out, command)
        done = {r["point"]: r for r in rows}
        if progress:
            progress.begin(len(plan.points), sum(p.key in done for p in plan.points))
        stopped = {}  # family -> smallest batch that ran out of memory
        for r in rows:
            if r["status"] in ("oom", "killed"):
                family = r["point"].rsplit("/", 1)[0]
                stopped[family] = min(int(r["batch"]), stopped.get(family, 1 << 62))
        died, deaths = store.read_running(out)
        try:
            for point in plan.points:
                if point.key in done:
                    continue
                if progress:
                    progress.start(point)
                row = _run_point(run, point, stopped=stopped, deaths=deaths + 1 if point.key == died else 0,
                                 progress=progress)
                results.append(row)
                store.clear_running(out)
                done[point.key] = row
                if row["status"] in ("oom", "killed"):
                    stopped[point.family] = min(point.batch, stopped.get(point.family, point.batch))
                if progress:
                    progress.finish(point, row)
        except BaseException:
            # Ctrl-C, SIGTERM or a bug: the process did not die in the point, so it is not a death (the
            # point has no row: the next run retries it).
            store.clear_running(out)
            raise
        final = [done[p.key] for p in plan.points]
        _write_manifest(plan, out, command, complete=all(r["status"] in FINAL for r in final))
    return final


@contextmanager
def _sigterm_interrupts():
    """SIGTERM (kill, a job scheduler's stop) interrupts the sweep as Ctrl-C does, so the point in
    progress is forgotten and retried on resume, not counted as a death (only SIGKILL, the
    out-of-memory killer's signal, leaves that mark). Outside the main thread signals stay as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open(plan, out, command):
    """Create the folder's files, or check they belong to this sweep; returns (ResultsFile, final rows)."""
    columns = COLUMNS[plan.workload]
    results = ResultsFile(out, columns)
    if not (out / MANIFEST).exists():
        if results.path.exists():
            raise ProfkitError(f"{out} has a results.csv but no manifest.json; use another --out")
        results.rewrite([])
        _write_manifest(plan, out, command, complete=False)
        return results, []
    old = store.read_manifest(out)
    new = plan.identity()
    for k in new:
        if old.get(k) != new[k]:
            raise ProfkitError(f"{out} holds a different sweep ({_differs(k, old.get(k), new[k])}); "
                               "rerun its own command to resume it, or choose another --out")
    if not results.path.exists():
        results.rewrite([])
    rows, dropped = store.read_rows(out, columns)
    keep = [r for r in rows if r["status"] in FINAL]
    if dropped or len(keep) != len(rows):  # torn lines go; error rows go and are retried
        results.rewrite(keep)
    _write_manifest(plan, out, command, complete=False, created=old.get("created"))
    return results, keep


def _differs(key, old, new):
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if old.get(k) != new.get(k):
                return f"{key} {k}: {old.get(k)!r} there, {new.get(k)!r} now"
    return f"{key}: {old!r} there, {new!r} now"


def _write_manifest(plan, out, command, complete, created=None):
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    manifest = {"schema": store.SCHEMA, **plan.identity(), "points": len(plan.points),
                "columns": list(COLUMNS[plan.workload]), "command": command,
                "device": device_info(plan.device), "complete": complete,
                "versions": {"torch": torch.__version__, "profkit": __version__},
                "created": created or now, "updated": now}
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _peak_device(plan, calibration):
    """Peaks for the measured/limit ratio: calibrated CPU or a known GPU; None when unknown."""
    if plan.device.type == "cpu":
        return load_calibration(calibration)
    return match_device(plan.settings["device_name"])


def _run_point(run, point, *, stopped, deaths, progress):
    plan = run.plan
    row = {"point": point.key, "mode": point.mode, "batch": point.batch, "dtype": plan.settings["dtype"]}
    if plan.workload == "gpt2":
        row.update(model=point.model, kv_groups=point.kv_groups, prompt_len=point.prompt_len,
                   new_tokens=plan.settings["new_tokens"])
    else:
        row.update(rows=point.rows, cols=point.cols)
    t = perf_counter()
    if point.family in stopped and point.batch > stopped[point.family]:
        row.update(status="skipped", note=f"batch {stopped[point.family]} already ran out of memory")
    elif deaths >= 2:
        row.update(status="killed", note="the sweep process was killed twice while running this point "
                                         "(on Linux usually the out-of-memory killer); not retried")
    else:
        store.mark_running(run.out, point.key, deaths)
        report = progress.phase if progress else None
        try:
            measure = _gpt2 if plan.workload == "gpt2" else _sdpa
            row.update(measure(run, point, report), status="ok")
        except OutOfMemory as e:
            row.update(status="oom", note=str(e))
        except ProfkitError as e:
            row.update(status="error", note=str(e))
        except Exception as e:  # one broken point must not cost the rest of the sweep
            row.update(status="error", note=f"{type(e).__name__}: {str(e).strip()[:300]}")
        finally:
            _release_memory(plan.device)
    row.update(elapsed_s=round(perf_counter() - t, 2),
               finished=datetime.now().astimezone().isoformat(timespec="seconds"))
    return row


def _release_memory(device):
    """Give the point's memory back, so the next point's peak starts from a clean baseline.

    On a CPU the peak is the process's resident-set high-water mark, reset to the
    current RSS before each timing pass; glibc keeps freed heap pages resident,
    so without malloc_trim a point after a large one would inherit its memory.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    else:
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing to trim
            pass


def _gpt2(run, point, report):
    s = run.plan.settings
    spec = run.plan.models[point.model]
    side = capture_run(run.plan.capture_config(point, run.out / "traces"), spec, command=run.command, progress=report)
    t = side["timing"]
    bounds = roofline(capture_of(side), run.peaks)  # the model entry has the point's K/V heads: limits hold for every G
    row = {"params": side["model"]["params"], "ttft_ms": t["ttft_ms"], "decode_ms_per_token": t["decode_ms_per_token"],
           "tokens_per_s": t["tokens_per_s"], "total_ms": t["total_ms"],
           "peak_memory_mib": side["peak_memory_bytes"] / MIB, "peak_memory_kind": side["peak_memory_kind"],
           "kv_cache_mib": bounds.kv_cache_bytes / MIB,
           "compile_s": (side["compile"] or {}).get("compile_s"), **_noise_columns(t["noise"]),
           "ttft_limit_ms": bounds.prefill.limit_ms, "decode_limit_ms": bounds.decode_step.limit_ms}
    if s["profile"]:
        row.update(_profile_summary(run.out / "traces" / side["trace"], side, run.options))
    return row


def _noise_columns(n):
    """The point's timing noise as results.csv cells (store.NOISE_COLUMNS)."""
    loads = [x for x in n["load_avg"].values() if x is not None]
    return {"min_ms": n["min_ms"], "max_ms": n["max_ms"], "cv_pct": n["cv_pct"], "noise": n["verdict"],
            "load_avg": max(loads) if loads else None}


def _profile_summary(path, sidecar, options):
    """The point's `profkit analyze` summary (with `options`, an AnalysisOptions),
    reduced to idle % and class shares."""
    from profkit.analysis.analyze import summarize
    from profkit.trace import load

    summary = summarize(load(path), sidecar=sidecar, options=options)
    row = {"idle_pct": summary.temporal.idle_pct, "trace": str(Path("traces") / path.name)}
    for column in CLASS_COLUMNS:
        row[column] = summary.classes[column.removeprefix("pct_")].pct
    return row


def _sdpa(run, point, report):
    s, peaks = run.plan.settings, run.peaks
    r = sdpa_run(point.mode, run.plan.device, point.batch, point.rows, point.cols, dtype=s["dtype"],
                 warmup=s["warmup"], steps=s["steps"], seed=s["seed"], progress=report)
    row = {k: r[k] for k in ("input_ms", "h2d_ms", "attention_ms", "gflops_per_s", "peak_memory_kind")}
    row["peak_memory_mib"] = r["peak_memory_bytes"] / MIB
    row.update(_noise_columns(r["noise"]))
    if peaks is not None:
        flops, nbytes = sdpa_cost(point.batch, point.rows, point.cols, DTYPE_BYTES[s["dtype"]])
        tflops = peaks.peak_tflops(s["dtype"])
        known = [x for x in (flops / (tflops * 1e12) if tflops else None,
                             nbytes / (peaks.bandwidth_gbs * 1e9) if peaks.bandwidth_gbs else None) if x]
        row["attention_limit_ms"] = max(known) * 1e3 if known else None
    return row
