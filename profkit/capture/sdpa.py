"""SDPA micro-benchmark: scaled_dot_product_attention on batch x rows x cols inputs.

The published study this reproduces found that loading the data, not the
attention, dominated. So the three costs are measured apart: generating Q/K/V
on the device (no dataset files), copying same-sized Q/K/V from host memory to
the device (a data loader's job; there is no such copy on a CPU run), and the
attention itself on device-resident inputs.

Inputs are (batch, 1, rows, cols): one head of `rows` tokens of width `cols`.
The 4-D form lets PyTorch pick its fused kernels (flash attention on CPU and
GPU); a 3-D call falls back to the unfused math path and materialises the
rows x rows score matrix.
"""

from statistics import median
from time import perf_counter

import torch
import torch.nn.functional as F

from profkit.common.noise import noise
from profkit.capture.machine import LoadProbe

from profkit.capture.memory import peak_memory, reset_peak_memory
from profkit.capture.models import DTYPES
from profkit.errors import OutOfMemory, ProfkitError

MODES = ("eager", "compiled")


def check_sdpa(mode, batch, rows, cols):
    if mode not in MODES:
        raise ProfkitError(f"--workload sdpa runs modes {' and '.join(MODES)}, not {mode}")
    for flag, value in (("--batch", batch), ("--rows", rows), ("--cols", cols)):
        if value < 1:
            raise ProfkitError(f"{flag} must be at least 1 (got {value})")


def sdpa_cost(batch, rows, cols, dtype_bytes):
    """(FLOPs, minimum bytes): QKᵀ and scores·V are 2·rows²·cols each per sequence;
    at least Q, K, V are read and the output written once."""
    return 4 * batch * rows * rows * cols, 4 * batch * rows * cols * dtype_bytes


def sdpa_run(mode, device, batch, rows, cols, *, dtype="float32", warmup=2, steps=3, seed=0, progress=None):
    """Time one SDPA point; returns a dict of milliseconds and peak memory."""
    check_sdpa(mode, batch, rows, cols)
    report = progress or (lambda phase, done, total: None)
    dt = DTYPES[dtype]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    shape = (batch, 1, rows, cols)
    try:
        with torch.inference_mode():
            reset_peak_memory(device)
            report("inputs", 0, 1)
            gen = torch.Generator(device=device).manual_seed(seed)
            sync()
            t = perf_counter()
            q, k, v = (torch.randn(shape, generator=gen, device=device, dtype=dt) for _ in range(3))
            sync()
            input_ms = (perf_counter() - t) * 1e3
            h2d_ms = _host_to_device_ms(shape, dt, device, steps=steps, sync=sync, report=report)
            attend = F.scaled_dot_product_attention
            if mode == "compiled":
                report("compile", 0, 1)
                # Every point has new shapes: without a reset, a long sweep would reach
                # dynamo's recompile limit and silently fall back to eager.
                torch.compiler.reset()
                attend = torch.compile(F.scaled_dot_product_attention, dynamic=False)
                attend(q, k, v)  # compiles
                sync()
            for i in range(warmup):
                report("warm-up", i, warmup)
                attend(q, k, v)
                sync()
            samples = []
            load = LoadProbe().start()
            for i in range(steps):
                report("timing", i, steps)
                sync()
                t = perf_counter()
                attend(q, k, v)
                sync()
                samples.append((perf_counter() - t) * 1e3)
            load.stop()
            peak, kind = peak_memory(device)
    except (RuntimeError, MemoryError) as e:
        if isinstance(e, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(e).lower():
            raise OutOfMemory(f"out of memory running SDPA on {batch}x{rows}x{cols} {dtype}") from None
        raise
    attention_ms = median(samples)
    flops, _ = sdpa_cost(batch, rows, cols, dt.itemsize)
    return {
        "input_ms": input_ms,
        "h2d_ms": h2d_ms,
        "attention_ms": attention_ms,
        "gflops_per_s": flops / (attention_ms * 1e-3) / 1e9,
        "samples_ms": [round(s, 3) for s in samples],
        "noise": noise(samples, load.load_before, load.load_after, load.cpus(), load.steal_pct),
        "peak_memory_bytes": peak,
        "peak_memory_kind": kind,
    }


def _host_to_device_ms(shape, dt, device, *, steps, sync, report):
    """Median time to copy Q, K and V from ordinary (pageable) host memory, as a data
    loader without pin_memory would; None on a CPU run, where no copy exists."""
    if device.type == "cpu":
        return None
    host = [torch.randn(shape, dtype=dt) for _ in range(3)]
    samples = []
    for i in range(steps):
        report("host-to-device", i, steps)
        sync()
        t = perf_counter()
        copies = [h.to(device) for h in host]
        sync()
        samples.append((perf_counter() - t) * 1e3)
        del copies
    return median(samples)
