"""Write a kernel-dense synthetic trace: N kernels, each with its launch call and the aten op around it.

    python benchmarks/make_dense_trace.py --kernels 1000000 -o dense-1m.json

Steps of 500 kernels (a ProfilerStep each) on one host thread; every kernel has a
cudaLaunchKernel with the same correlation id inside an aten op, lands on one of
four streams of GPU 0, and is named after a real GEMM, elementwise, normalization
or attention kernel. Launches take 4 µs and kernels 3-40 µs, so the GPU is partly
host-bound, partly busy: gap tables, steps and classes all have work to do.
Written as it is produced, so memory stays small whatever N.
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
               "dur": round(dur, 3), "args": {"queued": 0, "device": 0, "context": 1, "stream": stream,
                                              "correlation": i + 1, "registers per thread": 128,
                                              "shared memory": 0, "blocks per SM": 1.2, "warps per SM": 8.0,
                                              "grid": [132, 1, 1], "block": [128, 1, 1],
                                              "est. achieved occupancy %": 12, "external id": i + 1}}
        host += 1.0
    if step is not None:
        step["dur"] = host - step["ts"]
        yield step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args(argv)
    props = [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "totalGlobalMem": 85031714816, "computeMajor": 9,
              "computeMinor": 0, "numSms": 132}]
    with open(a.out, "wb") as f:
        f.write(b'{"schemaVersion": 1, "deviceProperties": ' + orjson.dumps(props) + b', "traceEvents": [\n')
        for k, e in enumerate(events(a.kernels, a.seed)):
            f.write((b",\n" if k else b"") + orjson.dumps(e))
        f.write(b"\n]}\n")
    print(a.out)


if __name__ == "__main__":
    main()
