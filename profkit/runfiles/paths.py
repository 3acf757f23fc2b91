"""What a file of a run is: a trace, its capture sidecar or a run manifest, told apart by name and content.

The one place that knows the file names profkit reads and writes; the sidecar
(profkit.runfiles.sidecar) and manifest (profkit.runfiles.manifest) modules read
their contents.
"""

from pathlib import Path

import orjson

from profkit.errors import ProfkitError

TRACE_SUFFIXES = (".json.gz", ".json")
MANIFEST_SCHEMA = "profkit.run/1"
_MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few KB; anything bigger is a trace


def trace_stem(path):
    """'traces/gpt2-eager.json.gz' -> 'gpt2-eager' (also for .pt.trace.json)."""
    name = Path(path).name
    for suffix in TRACE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def is_trace_file(path):
    """A .json/.json.gz file that is not a sidecar, not a run manifest and not hidden."""
    name = Path(path).name
    return (name.endswith(TRACE_SUFFIXES) and not name.endswith(".meta.json") and not name.startswith(".")
            and not is_manifest(path))


def traces_in(folder):
    """The trace files of a folder, sorted by name; a folder with none is an error."""
    folder = Path(folder)
    paths = sorted(p for p in folder.iterdir() if p.is_file() and is_trace_file(p))
    if not paths:
        raise ProfkitError(f"{folder}: no .json or .json.gz traces in this folder")
    return paths


def sidecar_path(trace_path) -> Path:
    """`run.json.gz` / `run.json` -> `run.meta.json`."""
    p = Path(trace_path)
    return p.with_name(trace_stem(p) + ".meta.json")


def is_manifest(path):
    """A small .json file whose schema is a profkit run manifest."""
    path = Path(path)
    if not path.name.endswith(".json") or not path.is_file():
        return False
    try:
        if path.stat().st_size > _MAX_MANIFEST_BYTES:
            return False
        head = path.read_bytes()
    except OSError:
        return False
    if b'"profkit.run/' not in head[:200]:
        return False
    try:
        data = orjson.loads(head)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and str(data.get("schema", "")).startswith("profkit.run/")
