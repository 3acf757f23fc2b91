"""Write a kernel-dense synthetic trace: N kernels, each with its launch call and the aten op around it.

    python benchmarks/make_dense_trace.py --kernels 1000000 -o dense-1m.json
    python benchmarks/make_dense_trace.py --kernels 1000000 --graph -o graph-1m.json
    python benchmarks/make_dense_trace.py --kernels 2000000 --zero-length -o zero-2m.json

Steps of 500 kernels (a ProfilerStep each) on one host thread; every kernel has a
cudaLaunchKernel with the same correlation id inside an aten op, lands on one of
four streams of GPU 0, and is named after a real GEMM, elementwise, normalization
or attention kernel. Launches take 4 µs and kernels 3-40 µs, so the GPU is partly
host-bound, partly busy: gap tables, steps and classes all have work to do.
Written as it is produced, so memory stays small whatever N.

--graph: a CUDA-graph replay (profkit's cudagraph mode): each step is one
cudaGraphLaunch whose 500 kernels carry its correlation id and no op, queued back
to back on two streams, so the GPU is busy and the host idles.
--zero-length (hostile): kernels only, every one 0 µs long, with minimal args.
"""

import argparse
import random
from pathlib import Path

import orjson

NAMES = (
    ("aten::mm", "sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_"
                 "segment_k_off_kernel__5x_cublas"),
    ("aten::add", "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>, "
                  "at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<float>, "
                  "at::detail::Array<char*, 3>)"),
    ("aten::layer_norm", "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>"
                         "(int, float, float const*, float const*, float const*, float*, float*, float*)"),
    ("aten::_scaled_dot_product_flash_attention", "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits"
                                                  "<64, 128, 128, 4, false, false, cutlass::half_t> >(Flash_fwd_params)"),
    ("aten::gelu", "void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl, "
                   "at::detail::Array<char*, 2> >(int, at::native::GeluCUDAKernelImpl, at::detail::Array<char*, 2>)"),
)
PER_STEP = 500
KERNEL_ARGS = {"queued": 0, "device": 0, "context": 1, "registers per thread": 128, "shared memory": 0,
               "blocks per SM": 1.2, "warps per SM": 8.0, "grid": [132, 1, 1], "block": [128, 1, 1],
               "est. achieved occupancy %": 12}


def events(n, seed):
    rng = random.Random(seed)
    host, gpu_free = 0.0, [0.0] * 4
    step = None
    yield {"ph": "X", "cat": "python_function", "name": "main", "pid": 1, "tid": 1, "ts": 0.0,
           "dur": float(n) * 12 + 1000}
    for i in range(n):
        if i % PER_STEP == 0:
            if step is not None:
                step["dur"] = host - step["ts"]
                yield step
            host += 20.0
            step = {"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{i // PER_STEP}", "pid": 1,
                    "tid": 1, "ts": host, "dur": 0.0}
            host += 1.0
        op, kernel = NAMES[rng.randrange(len(NAMES))]
        stream = 7 + rng.randrange(4)
        op_ts = host
        host += 2.0
        launch = {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": host,
                  "dur": 4.0, "args": {"correlation": i + 1, "external id": i + 1}}
        start = max(host + 5.0, gpu_free[stream - 7])
        dur = rng.uniform(3.0, 40.0)
        gpu_free[stream - 7] = start + dur
        host += 6.0
        yield {"ph": "X", "cat": "cpu_op", "name": op, "pid": 1, "tid": 1, "ts": op_ts, "dur": host - op_ts,
               "args": {"External id": i + 1, "Sequence number": i, "Fwd thread id": 0}}
        yield launch
        yield {"ph": "X", "cat": "kernel", "name": kernel, "pid": 0, "tid": stream, "ts": round(start, 3),
               "dur": round(dur, 3), "args": {**KERNEL_ARGS, "stream": stream, "correlation": i + 1,
                                              "external id": i + 1}}
        host += 1.0
    if step is not None:
        step["dur"] = host - step["ts"]
        yield step


def graph_events(n, seed):
    """A CUDA-graph replay: one cudaGraphLaunch per step of PER_STEP kernels."""
    rng = random.Random(seed)
    host = gpu = 0.0
    yield {"ph": "X", "cat": "python_function", "name": "main", "pid": 1, "tid": 1, "ts": 0.0,
           "dur": float(n) * 12 + 1000}
    for s in range(0, n, PER_STEP):
        step = s // PER_STEP
        host = max(host, gpu - 40.0) + 20.0  # the host runs ahead of the GPU by at most one launch
        corr = step + 1
        yield {"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "pid": 1, "tid": 1,
               "ts": host, "dur": 60.0}
        yield {"ph": "X", "cat": "cuda_runtime", "name": "cudaGraphLaunch", "pid": 1, "tid": 1, "ts": host + 5.0,
               "dur": 30.0, "args": {"cbid": 311, "correlation": corr}}
        gpu = max(gpu, host + 40.0)
        for i in range(s, min(s + PER_STEP, n)):
            _, kernel = NAMES[rng.randrange(len(NAMES))]
            dur = rng.uniform(3.0, 40.0)
            stream = 7 + (i % 2)
            yield {"ph": "X", "cat": "kernel", "name": kernel, "pid": 0, "tid": stream, "ts": round(gpu, 3),
                   "dur": round(dur, 3), "args": {**KERNEL_ARGS, "stream": stream, "correlation": corr}}
            gpu += dur + 1.0
        host += 60.0


def zero_length_events(n):
    """Hostile: n kernels of 0 µs, one per µs, with short names and minimal args (~100 bytes each)."""
    for i in range(n):
        yield {"ph": "X", "cat": "kernel", "name": f"k{i % 5}", "pid": 0, "tid": 7, "ts": float(i),
               "dur": 0.0, "args": {"device": 0, "stream": 7, "correlation": i + 1}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", type=Path, required=True)
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument("--graph", action="store_true", help="a CUDA-graph replay: one launch per step")
    kind.add_argument("--zero-length", action="store_true", help="hostile: kernels of 0 µs, nothing else")
    a = ap.parse_args(argv)
    made = graph_events(a.kernels, a.seed) if a.graph else zero_length_events(a.kernels) if a.zero_length \
        else events(a.kernels, a.seed)
    props = [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "totalGlobalMem": 85031714816, "computeMajor": 9,
              "computeMinor": 0, "numSms": 132}]
    with open(a.out, "wb") as f:
        f.write(b'{"schemaVersion": 1, "deviceProperties": ' + orjson.dumps(props) + b', "traceEvents": [\n')
        for k, e in enumerate(made):
            f.write((b",\n" if k else b"") + orjson.dumps(e))
        f.write(b"\n]}\n")
    print(a.out)


if __name__ == "__main__":
    main()
