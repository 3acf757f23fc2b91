"""Per-step figures of the RTX 5080 MLP pair, recomputed from a plain json parse (nothing from profkit)."""

import gzip
import json
import re

EAGER = "kineto-rtx5080-mlp-train-eager.json.gz"
GRAPH = "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz"
GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
RUNTIME_CATS = {"cuda_runtime", "cuda_driver"}
GEMM = re.compile(r"gemm|splitKreduce")  # cuBLAS/CUTLASS GEMM kernels of these traces


def by_hand(path):
    """Per-step figures with json + interval arithmetic, nothing from profkit."""
    events = json.loads(gzip.open(path).read())["traceEvents"]
    xs = [e for e in events if e.get("ph") == "X"]
    steps = sorted((e["ts"], e["ts"] + e["dur"], int(e["name"].split("#")[1])) for e in xs
                   if e.get("cat") == "user_annotation" and re.fullmatch(r"ProfilerStep#\d+", e["name"]))
    launch = {e["args"]["correlation"]: e["ts"] for e in xs if e.get("cat") in RUNTIME_CATS}
    per = {n: {"ops": 0, "kernel_us": 0.0, "gemm_us": 0.0, "start": None, "intervals": []} for _, _, n in steps}
    outside = {"ops": 0, "us": 0.0}
    gpu = [e for e in xs if e.get("cat") in GPU_CATS]
    for e in gpu:
        t = launch.get(e["args"].get("correlation"))
        owner = next((n for s, f, n in steps if t is not None and s <= t <= f), None)
        if owner is None:
            outside["ops"] += 1
            outside["us"] += e["dur"]
            continue
        p = per[owner]
        p["ops"] += 1
        if e["cat"] == "kernel":
            p["kernel_us"] += e["dur"]
            if GEMM.search(e["name"]):
                p["gemm_us"] += e["dur"]
        p["start"] = e["ts"] if p["start"] is None else min(p["start"], e["ts"])
    starts = [per[n]["start"] for _, _, n in steps]
    periods = [b - a for a, b in zip(starts, starts[1:])]
    return per, outside, periods, [n for _, _, n in steps]
