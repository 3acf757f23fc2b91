"""Fake capture folders: a tiny trace and a sidecar per mode, and the run manifest (run.json)."""

import json

from profkit.runfiles.manifest import RunManifest


def sidecar(mode, trace, created="2026-12-02T10:00:00+00:00"):
    return {"schema": "profkit.capture/1", "model": {"name": "tiny"}, "mode": mode,
            "device": {"type": "cpu", "name": "x", "threads": 2}, "dtype": "float32", "batch": 1,
            "prompt_len": 8, "new_tokens": 4, "timing": {"total_ms": 5.0, "noise": {"cv_pct": 1.0}},
            "trace": trace, "created": created}


def write_run(folder, modes, created="2026-12-02T10:00:00+00:00"):
    """A fake capture: a trace (a tiny valid Chrome trace), a sidecar per mode, and run.json."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = None
    for mode in modes:
        stem = f"tiny-{mode}-b1-s8"
        side = sidecar(mode, f"{stem}.json.gz", created)
        (folder / f"{stem}.json.gz").write_bytes(json.dumps({"traceEvents": [], "mode": mode}).encode())
        (folder / f"{stem}.meta.json").write_text(json.dumps(side))
        manifest = (manifest or RunManifest.from_sidecar(side, "profkit capture")).with_mode(side, f"{stem}.meta.json")
    manifest = RunManifest(**{**manifest.__dict__, "created": created})
    (folder / "run.json").write_bytes(manifest.to_json())
    return manifest


def time_under_load(meta, load_before, load_after, cpus=2):
    """Rewrite a capture's sidecar (`meta`, a .meta.json) as if its timed runs had run at these
    1-minute load averages: the noise verdict and reasons the capture would then have recorded."""
    from profkit.common.noise import noise

    side = json.loads(meta.read_text())
    samples = [prefill + decode for prefill, decode in side["timing"]["samples_ms"]]
    side["timing"]["noise"] = noise(samples, load_before, load_after, cpus=cpus, steal_pct=0.0)
    meta.write_text(json.dumps(side))
