"""The run manifest: `<out>/run.json`, written by every `profkit capture`.

One manifest describes one capture command: the command line, model, device,
dtype and shapes, the peaks the roofline uses, and for each mode its trace,
sidecar, timing and timing noise. `profkit report traces/run.json` renders all
the modes of that run side by side.

A second capture into the same folder keeps the older manifest as
`run-<created>.json` and renames the older traces it would overwrite to
`<stem>-<created>.json.gz` (their sidecars likewise), so nothing is lost.

Torch-free: written by the capture command, read by the report.
"""

import datetime
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import orjson

from profkit.errors import ProfkitError
from profkit.fileio import write_bytes_atomic
from profkit.runfiles.paths import MANIFEST_SCHEMA, is_manifest, sidecar_path, trace_stem
from profkit.runfiles.sidecar import read_raw

SCHEMA = MANIFEST_SCHEMA
NAME = "run.json"


@dataclass(frozen=True)
class ModeRecord:
    """One mode of a run; file names are relative to the manifest's folder."""

    mode: str
    trace: str
    sidecar: str
    timing: dict
    noise: dict | None = None


@dataclass(frozen=True)
class RunManifest:
    command: str
    model: str
    device: dict
    dtype: str
    shapes: dict
    created: str
    peaks: dict | None = None
    modes: tuple = field(default_factory=tuple)
    schema: str = SCHEMA

    @classmethod
    def from_sidecar(cls, sidecar, command, peaks=None):
        """An empty manifest for the run a capture sidecar belongs to."""
        return cls(command=command, model=sidecar["model"]["name"], device=sidecar["device"],
                   dtype=sidecar["dtype"], peaks=peaks,
                   shapes={k: sidecar[k] for k in ("batch", "prompt_len", "new_tokens")},
                   created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))

    def with_mode(self, sidecar, sidecar_name):
        """A copy with the mode of `sidecar` added (replacing an earlier record of that mode)."""
        timing = sidecar.get("timing") or {}
        record = ModeRecord(mode=sidecar["mode"], trace=sidecar["trace"], sidecar=sidecar_name,
                            timing=timing, noise=timing.get("noise"))
        kept = tuple(m for m in self.modes if m.mode != record.mode)
        return replace(self, modes=(*kept, record))

    def to_json(self):
        return orjson.dumps({"schema": self.schema, **{k: v for k, v in asdict(self).items() if k != "schema"}},
                            option=orjson.OPT_INDENT_2) + b"\n"

    def trace_paths(self, folder):
        return [Path(folder) / m.trace for m in self.modes]


def read_manifest(path):
    """The RunManifest in `path`; one-line errors for anything else."""
    path = Path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise ProfkitError(f"{path}: unreadable run manifest ({e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ProfkitError(f"{path}: not a profkit run manifest (expected schema {SCHEMA})")
    try:
        modes = tuple(ModeRecord(**m) for m in data.pop("modes"))
        manifest = RunManifest(**data, modes=modes)
    except (TypeError, KeyError) as e:
        raise ProfkitError(f"{path}: malformed run manifest ({e})") from None
    for m in modes:
        for what, name in (("trace", m.trace), ("sidecar", m.sidecar)):
            if not _inside(name):
                raise ProfkitError(f"{path}: malformed run manifest (the {m.mode!s:.40} mode's {what} must be a file "
                                   f"name relative to the manifest's folder, not {name!r:.80})")
    return manifest


def _inside(name):
    """Whether `name` is a relative path that stays inside the manifest's folder."""
    if not isinstance(name, str) or not name or "\0" in name:
        return False
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and not PureWindowsPath(name).drive


def write_manifest(folder, manifest):
    """Write `<folder>/run.json` atomically; return its path."""
    path = Path(folder) / NAME
    write_bytes_atomic(path, manifest.to_json())
    return path


def manifests_in(folder):
    """(path, RunManifest) of every manifest in a folder, newest first."""
    found = []
    for p in Path(folder).iterdir():
        if p.name.startswith("run") and is_manifest(p):
            found.append((p, read_manifest(p)))
    return sorted(found, key=lambda pm: (pm[1].created, pm[0].name == NAME), reverse=True)


def _stamp(iso):
    """'2026-12-02T18:19:14+00:00' -> '20261202T181914Z' (file-name safe, sorts by time)."""
    try:
        t = datetime.datetime.fromisoformat(iso).astimezone(datetime.timezone.utc)
    except (TypeError, ValueError):
        t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y%m%dT%H%M%SZ")


def _free(folder, base, suffix):
    """folder/<base><suffix>, or <base>-2<suffix>, -3 ... when that exists."""
    path, n = folder / f"{base}{suffix}", 2
    while path.exists():
        path, n = folder / f"{base}-{n}{suffix}", n + 1
    return path


def keep_previous(folder, trace_names):
    """Before a capture writes `trace_names` into `folder`: move what it would overwrite aside.

    The old run.json becomes run-<its created time>.json; each old trace named in
    `trace_names` (and its sidecar) becomes <stem>-<time>.json.gz, and the kept
    manifest is updated to point at the new names. Returns one line per move.
    """
    folder = Path(folder)
    old_path = folder / NAME
    old = read_manifest(old_path) if is_manifest(old_path) else None
    moved, notes = {}, []
    for name in trace_names:
        trace = folder / name
        if not trace.exists():
            continue
        meta = read_raw(trace) or {}
        stamp = _stamp(old.created if old and name in {m.trace for m in old.modes} else
                       meta.get("created") or datetime.datetime.fromtimestamp(
                           trace.stat().st_mtime, datetime.timezone.utc).isoformat())
        suffix = trace.name[len(trace_stem(trace)):]
        new_trace = _free(folder, f"{trace_stem(trace)}-{stamp}", suffix)
        os.replace(trace, new_trace)
        side = sidecar_path(trace)
        if side.exists():
            new_side = sidecar_path(new_trace)
            if meta:
                write_bytes_atomic(new_side, orjson.dumps({**meta, "trace": new_trace.name},
                                                          option=orjson.OPT_INDENT_2) + b"\n")
                side.unlink()
            else:
                os.replace(side, new_side)
            moved[side.name] = new_side.name
        moved[name] = new_trace.name
        notes.append(f"kept the earlier {name} as {new_trace.name}")
    if old is not None:
        modes = tuple(replace(m, trace=moved.get(m.trace, m.trace), sidecar=moved.get(m.sidecar, m.sidecar))
                      for m in old.modes)
        kept = _free(folder, f"run-{_stamp(old.created)}", ".json")
        write_bytes_atomic(kept, replace(old, modes=modes).to_json())
        old_path.unlink()
        notes.append(f"kept the earlier {NAME} as {kept.name}")
    return notes
