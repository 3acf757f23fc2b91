"""The metadata sidecar `profkit capture` writes beside each trace."""

from pathlib import Path

import orjson

from profkit.errors import ProfkitError


def sidecar_path(trace_path) -> Path:
    """`run.json.gz` / `run.json` -> `run.meta.json`."""
    p = Path(trace_path)
    name = p.name
    for suffix in (".json.gz", ".json", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".meta.json")


def read_sidecar(trace_path):
    """The sidecar dict of a profkit capture, or None for a foreign trace."""
    path = sidecar_path(trace_path)
    if not path.is_file():
        return None
    try:
        meta = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise ProfkitError(f"{path}: unreadable capture metadata ({e})") from None
    return meta if isinstance(meta, dict) else None
