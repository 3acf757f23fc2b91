"""One capture: build the model, warm up, time without the profiler, then profile.

The timing pass runs outside the profiler (its overhead would inflate every
number); the profiled pass runs the same generations under torch.profiler with
"prefill" and "decode" regions, one profiler step per generation.
"""

import gzip
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from statistics import median
from time import perf_counter

import torch
import torch._dynamo
import transformers
from torch.profiler import ProfilerActivity, record_function, schedule

from profkit import __version__
from profkit.common.noise import noise
from profkit.capture.generate import synthetic_prompt
from profkit.capture.machine import LoadProbe
from profkit.capture.memory import peak_memory, reset_peak_memory
from profkit.capture.models import build_model, check_fits, describe, resolve_model, with_kv_groups
from profkit.capture.modes import make_decoder, resolve_device, resolve_modes
from profkit.errors import OutOfMemory, ProfkitError
from profkit.fileio import atomic_path, write_text_atomic

SCHEMA = "profkit.capture/1"


def output_stem(model_name, mode, batch, prompt_len):
    return f"{model_name}-{mode}-b{batch}-s{prompt_len}"


def check_args(spec, cfg):
    """Refuse impossible settings for this model before it is built."""
    cfg.check()
    positions = spec.config.max_position_embeddings
    if cfg.positions > positions:
        raise ProfkitError(
            f"--prompt-len {cfg.prompt_len} + --new-tokens {cfg.new_tokens} = {cfg.positions} "
            f"exceeds the model's {positions} positions"
        )


def check_out_dir(out_dir):
    """Create `out_dir` and prove a file can be written there, before hours of work."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ProfkitError(f"cannot write to {out}: {e.strerror or e}") from None
    return out


def generate(decoder, prompt, new_tokens, sync, time_prefill=True):
    """One generation; returns (prefill seconds, decode seconds).

    The sync after prefill is what makes TTFT honest on a GPU; the profiled pass
    skips it so the trace shows the natural launch pattern.
    """
    decoder.reset()
    sync()
    t0 = perf_counter()
    with record_function("prefill"):
        token = decoder.prefill(prompt)
    if time_prefill:
        sync()
    t1 = perf_counter()
    with record_function("decode"):
        decoder.decode(token, new_tokens)
    sync()
    return t1 - t0, perf_counter() - t1


def output_tokens(decoder, prompt, new_tokens):
    """One more (untimed) generation's greedy tokens: a digest of all, and the first sequence.

    Modes of one model, seed and shape must agree on them (the GPU smoke check
    compares CUDA-graph replay with eager this way).
    """
    decoder.reset()
    first = decoder.prefill(prompt)
    tokens = torch.cat([first, decoder.decode(first, new_tokens)], dim=1).cpu()
    return {"sha256": hashlib.sha256(tokens.numpy().tobytes()).hexdigest(), "first": tokens[0].tolist()}


def capture_run(cfg, spec=None, command=None, progress=None, peaks=None):
    """Capture one run described by the CaptureConfig `cfg`; returns the sidecar dict.

    `spec`: the ModelSpec already resolved from cfg.model (the CLI and sweeps
    resolve once), else it is resolved here. With cfg.profile the trace and
    sidecar are written to cfg.out_dir; without, nothing is written and the dict
    has "trace": None. `progress(phase, done, total)` is called as the run advances.
    `peaks`: the device peaks the roofline should use (calibrate.cpu_peaks), recorded
    in the sidecar as "peaks" with their origin.
    """
    report = progress or (lambda phase, done, total: None)
    dev = resolve_device(cfg.device)
    modes = resolve_modes(cfg.mode, dev)
    if len(modes) != 1:
        raise ValueError(f"capture_run takes one mode, got {cfg.mode!r}")
    mode = modes[0]
    spec = with_kv_groups(spec or resolve_model(cfg.model), cfg.kv_groups)
    check_args(spec, cfg)
    check_fits(spec, cfg, dev)
    out = check_out_dir(cfg.out_dir) if cfg.profile else None
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    stem = output_stem(spec.name, mode, cfg.batch, cfg.prompt_len)
    batch, new_tokens, steps = cfg.batch, cfg.new_tokens, cfg.steps

    try:
        with torch.inference_mode():
            report("load model", 0, 1)
            net = build_model(spec, cfg.dtype, dev, cfg.seed)
            report("load model", 1, 1)
            prompt = synthetic_prompt(batch, cfg.prompt_len, net.config.vocab_size, cfg.seed, dev)
            first = {"compiled": "compile", "cudagraph": "capture graph"}.get(mode)
            if first:
                report(first, 0, 1)
            t = perf_counter()
            decoder, compile_info = make_decoder(mode, net, batch, cfg.positions)
            if compile_info is not None:
                generate(decoder, prompt, new_tokens, sync)  # compiles the prompt and decode graphs
                compile_info["compile_s"] = round(perf_counter() - t, 2)
            if first:
                report(first, 1, 1)
            for i in range(cfg.warmup):
                report("warm-up", i, cfg.warmup)
                generate(decoder, prompt, new_tokens, sync)
            report("warm-up", cfg.warmup, cfg.warmup)
            timing, peak, peak_kind = _measure(decoder, prompt, new_tokens=new_tokens, batch=batch, steps=steps,
                                               sync=sync, dev=dev, report=report)
            output = output_tokens(decoder, prompt, new_tokens)
            if cfg.profile:
                meta = {"schema": SCHEMA, "model": spec.name, "mode": mode, "batch": batch,
                        "prompt_len": cfg.prompt_len, "new_tokens": new_tokens}
                _profile(decoder, prompt, new_tokens=new_tokens, steps=steps, sync=sync, dev=dev, report=report,
                         dest=out / f"{stem}.json.gz", meta=meta)
    except torch._dynamo.exc.BackendCompilerFailed as e:
        # Typically the environment (no C++ compiler for inductor on CPU), not a profkit bug.
        inner = e.inner_exception
        lines = str(inner).strip().splitlines() or [""]
        raise ProfkitError(f"torch.compile failed: {type(inner).__name__}: {lines[0]}") from None
    except (RuntimeError, MemoryError) as e:
        if _is_oom(e):
            raise OutOfMemory(
                f"out of memory running {spec.name} {mode} with batch {batch}, "
                f"{cfg.prompt_len}+{new_tokens} tokens, {cfg.dtype}; try smaller sizes"
            ) from None
        raise

    sidecar = {
        "schema": SCHEMA,
        "model": describe(spec, net),
        "mode": mode,
        "compile": compile_info,
        "device": device_info(dev),
        **cfg.sidecar_settings(),
        "timing": timing,
        "peaks": peaks,
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "output_tokens": output,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version(), "profkit": __version__},
        "command": command if command is not None else shlex.join(sys.argv),
        "trace": f"{stem}.json.gz" if cfg.profile else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if cfg.profile:
        write_text_atomic(out / f"{stem}.meta.json", json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def _measure(decoder, prompt, *, new_tokens, batch, steps, sync, dev, report):
    """Un-profiled timing pass: medians over `steps` generations, their noise, and peak memory."""
    reset_peak_memory(dev)
    samples = []
    load = LoadProbe().start()
    for i in range(steps):
        report("timing", i, steps)
        samples.append(generate(decoder, prompt, new_tokens, sync))
    load.stop()
    report("timing", steps, steps)
    peak, kind = peak_memory(dev)
    prefill = median(s[0] for s in samples)
    decode = median(s[1] for s in samples)
    timing = {
        "ttft_ms": round(prefill * 1e3, 3),
        "decode_ms_per_token": round(decode * 1e3 / new_tokens, 3),
        # Decode throughput: tokens produced per second across the batch.
        "tokens_per_s": round(batch * new_tokens / decode, 2),
        "total_ms": round(median(s[0] + s[1] for s in samples) * 1e3, 3),
        "samples_ms": [[round(p * 1e3, 3), round(d * 1e3, 3)] for p, d in samples],
        "noise": noise([(p + d) * 1e3 for p, d in samples], load.load_before, load.load_after,
                       load.cpus(), load.steal_pct),
    }
    return timing, peak, kind


def _profile(decoder, prompt, *, new_tokens, steps, sync, dev, report, dest, meta):
    """Profiled pass: one profiler warm-up generation, then `steps` recorded ones."""
    activities = [ProfilerActivity.CPU]
    if dev.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    prof = torch.profiler.profile(activities=activities, record_shapes=True,
                                  schedule=schedule(wait=0, warmup=1, active=steps, repeat=1))
    with _quiet_stderr():
        prof.start()
    try:
        for i in range(steps + 1):
            report("profile", i, steps + 1)
            if i == 1:  # metadata is only kept once the profiler is recording
                prof.add_metadata_json("profkit", json.dumps(meta))
            generate(decoder, prompt, new_tokens, sync, time_prefill=False)
            with _quiet_stderr():  # the schedule starts and stops Kineto inside step()
                prof.step()
        report("profile", steps + 1, steps + 1)
    finally:
        with _quiet_stderr():
            prof.stop()
    report("write trace", 0, 1)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".profkit-") as tmp:
        raw = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(raw))
        with atomic_path(dest) as part, open(raw, "rb") as src, gzip.open(part, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    report("write trace", 1, 1)


@contextmanager
def _quiet_stderr():
    """Kineto writes "USDT: profiler_start/stop" lines straight to fd 2 whatever the
    log level; they would tear through the progress display."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _is_oom(e):
    text = str(e).lower()
    return isinstance(e, (torch.OutOfMemoryError, MemoryError)) or any(
        s in text for s in ("out of memory", "not enough memory", "can't allocate memory")
    )


def device_info(dev):
    """The sidecar's "device" entry: type, name and the threads torch uses."""
    if dev.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(dev), "threads": torch.get_num_threads()}
    return {"type": "cpu", "name": _cpu_name(), "threads": torch.get_num_threads()}


def _cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
