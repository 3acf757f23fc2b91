"""Execution modes: eager, torch.compile, and CUDA-graph replay of the decode step."""

import torch

from profkit.capture.generate import EagerDecoder, StaticDecoder
from profkit.errors import ProfkitError

MODES = ("eager", "compiled", "cudagraph")
NO_CUDA = ("CUDA graphs need a CUDA device and this machine has none: use --mode eager,compiled, "
           "or --mode all (every mode the device supports)")

# Inductor options that make compiled code visible in a profiler trace: each generated
# C++ kernel becomes a named region (otherwise a CPU trace shows one opaque call), and
# each call of a compiled graph is marked.
INDUCTOR_OPTIONS = {"cpp.enable_kernel_profile": True, "profiler_mark_wrapper_call": True}


def resolve_device(name):
    """--device auto|cpu|cuda -> torch.device, refusing CUDA where there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            build = " (a CPU-only build)" if torch.version.cuda is None and torch.version.hip is None else ""
            raise ProfkitError(f"--device cuda requested but torch {torch.__version__}{build} sees no CUDA "
                               "device: use --device cpu, or auto (CUDA when present, else the CPU)")
        return torch.device("cuda")
    raise ProfkitError(f"unknown device '{name}'; choose auto, cpu or cuda")


def supported_modes(device):
    return MODES if device.type == "cuda" else ("eager", "compiled")


def resolve_modes(text, device):
    """'eager', 'all' or a comma list like 'eager,compiled' -> ordered list of modes."""
    modes = []
    for part in (p.strip() for p in text.split(",")):
        if part not in (*MODES, "all"):
            raise ProfkitError(
                f"unknown mode '{part}'; choose eager, compiled, cudagraph, all, or a comma list"
            )
        for mode in supported_modes(device) if part == "all" else (part,):
            if mode == "cudagraph" and device.type != "cuda":
                if torch.cuda.is_available():
                    raise ProfkitError("CUDA graphs need a CUDA device: run with --device cuda, or use "
                                       "--mode eager,compiled on the CPU")
                raise ProfkitError(NO_CUDA)
            if mode not in modes:
                modes.append(mode)
    return modes


def make_decoder(mode, model, batch, max_len):
    """The decoder for `mode` and the sidecar's "compile" entry (None when not compiled)."""
    if mode == "eager":
        return EagerDecoder(model), None
    if mode == "compiled":
        # Static cache + dynamic=False: one graph for the prompt shape, one for the
        # decode step, no recompiles as the sequence grows. Dynamo caches per code
        # object, so graphs of earlier runs in this process (a sweep) would count
        # towards its recompile limit and silently send later runs to eager: reset.
        torch.compiler.reset()
        forward = torch.compile(model, backend="inductor", dynamic=False, options=INDUCTOR_OPTIONS)
        info = {"backend": "inductor", "mode": "default", "dynamic": False, "fullgraph": False,
                "kv_cache": "static", "options": INDUCTOR_OPTIONS}
        return StaticDecoder(model, batch, max_len, forward), info
    if mode == "cudagraph":
        return CudaGraphDecoder(model, batch, max_len), None
    raise ValueError(mode)


class CudaGraphDecoder(StaticDecoder):
    """Prefill runs eagerly; each decode step is one replay of a captured CUDA graph.

    The graph reads the current token from, and writes the next token into, one
    fixed buffer, so a step costs one graph launch plus one copy of the token.
    """

    def __init__(self, model, batch, max_len):
        super().__init__(model, batch, max_len)
        self.token = torch.zeros((batch, 1), dtype=torch.long, device=model.device)
        # Warm up on a side stream before capturing (torch.cuda.graphs' recipe) so
        # one-time work such as cuBLAS workspace allocation is not captured.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self.token.copy_(self.step(self.token))
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.token.copy_(self.step(self.token))
        self.reset()  # forget the warm-up steps' cache writes

    def decode(self, token, n):
        self.token.copy_(token)
        out = []
        for _ in range(n):
            self.graph.replay()
            out.append(self.token.clone())
        return torch.cat(out, dim=1)
