"""What each run is: model, mode, device, dtype, shapes, versions, command.

From the capture sidecar when profkit recorded the run, else from the few
well-known keys of the trace itself. Trace metadata is never shown wholesale:
foreign traces carry environment dumps (tokens, hostnames) nobody meant to publish.
"""

import shlex

from profkit.runfiles.sidecar import Capture, CaptureDevice, CaptureModel


def _version_text(v):
    """Kineto writes CUDA versions as integers: 12040 -> 12.4."""
    if isinstance(v, int) and v >= 1000:
        return f"{v // 1000}.{(v % 1000) // 10}"
    return str(v)


def _from_trace(run):
    meta = run.trace.meta
    versions = []
    for key, label in (("cuda_runtime_version", "CUDA runtime"), ("cuda_driver_version", "CUDA driver"),
                       ("cupti_version", "CUPTI")):
        if meta.get(key) is not None:
            versions.append((label, _version_text(meta[key]) if key != "cupti_version" else str(meta[key])))
    env = (meta.get("metadata") or {}).get("torch_env_info") if isinstance(meta.get("metadata"), dict) else None
    if isinstance(env, dict) and isinstance(env.get("torch_version"), str):
        versions.insert(0, ("torch", env["torch_version"]))
    dist = meta.get("distributedInfo")
    if isinstance(dist, dict) and dist.get("nccl_version"):
        versions.append(("NCCL", str(dist["nccl_version"])))
    return versions


def _command_text(cmd):
    if isinstance(cmd, list):
        return shlex.join(str(c) for c in cmd)
    return str(cmd) if cmd else ""


def run_header(run):
    s, side = run.summary, run.sidecar or Capture()
    device, model = side.device or CaptureDevice(), side.model or CaptureModel()
    shapes = [f"{label} {value}" for label, value in (("batch", side.batch), ("prompt", side.prompt_len),
                                                      ("new tokens", side.new_tokens)) if value is not None]
    if s.world_size:
        shapes.append(f"rank {s.rank} of {s.world_size}")
    versions = ([(str(k), str(v)) for k, v in side.versions.items()] if side.versions is not None
                else _from_trace(run))
    return {
        "label": run.label,
        "path": str(run.path),
        "source": "capture sidecar" if run.sidecar else "trace",
        "model": model.name or "",
        "mode": run.mode,
        "detected_mode": s.mode.name,
        "evidence": s.mode.evidence,
        "device": device.name or s.device.name or s.device.kind,
        "device_kind": device.type or s.device.kind,
        "dtype": side.dtype or "",
        "shapes": ", ".join(shapes),
        "versions": versions,
        "command": _command_text(side.command),
        "peak_memory": side.peak_memory_bytes,
        "warnings": s.warnings,
    }
