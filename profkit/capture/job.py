"""One `profkit capture` command: every mode into one folder, with its run manifest.

Before anything is written, what the capture would overwrite is moved aside
(profkit.runfiles.manifest.keep_previous); on a CPU the machine's peaks are looked
up or measured once (calibrate.cpu_peaks) and recorded in every sidecar; after
each mode, <out>/run.json is rewritten so a failure leaves a manifest of the
modes that finished.
"""

from dataclasses import replace

from profkit.capture.calibrate import cpu_peaks
from profkit.capture.modes import resolve_device
from profkit.capture.run import capture_run, output_stem
from profkit.runfiles.manifest import RunManifest, keep_previous, write_manifest
from profkit.runfiles.paths import sidecar_path


def capture_job(cfg, modes, spec, command, progress, notify):
    """Capture `modes` (already checked) of cfg's model; returns (sidecars, manifest path).

    `progress(label)` gives the per-run progress callback; `notify(text)` hears
    what was moved aside and where the peaks came from.
    """
    out = cfg.out_dir
    traces = {m: f"{output_stem(spec.name, m, cfg.batch, cfg.prompt_len)}.json.gz" for m in modes}
    for note in keep_previous(out, list(traces.values())):
        notify(note)
    # A GPU's peaks come from the device table (matched from the trace's device name).
    peaks = cpu_peaks(notify) if resolve_device(cfg.device).type == "cpu" else None
    sidecars, manifest, path = [], None, None
    for m in modes:
        side = capture_run(replace(cfg, mode=m), spec, command=command, progress=progress(f"{spec.name} {m}"),
                           peaks=peaks)
        sidecars.append(side)
        manifest = (manifest or RunManifest.from_sidecar(side, command, peaks)).with_mode(
            side, sidecar_path(out / traces[m]).name)
        path = write_manifest(out, manifest)
    return sidecars, path
