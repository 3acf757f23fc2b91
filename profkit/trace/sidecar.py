"""Trace files on disk and the metadata sidecar `profkit capture` writes beside each."""

from pathlib import Path

import msgspec
import orjson

from profkit.errors import ProfkitError
from profkit.trace.manifest import is_manifest


TRACE_SUFFIXES = (".json.gz", ".json")


class Noise(msgspec.Struct, kw_only=True):
    """A capture's `timing.noise` (profkit.analysis.noise.noise): the verdict and what it rests on."""

    verdict: str | None = None  # "quiet" or "noisy"; None: not judged
    reasons: list[str] = []
    cv_pct: float | None = None
    min_ms: float | None = None  # of the timed runs' total times
    max_ms: float | None = None


class Timing(msgspec.Struct, kw_only=True):
    """A capture's `timing`: medians of the timed runs (ms), each run's (prefill, decode) ms, the noise."""

    ttft_ms: float | None = None
    decode_ms_per_token: float | None = None
    tokens_per_s: float | None = None
    total_ms: float | None = None
    samples_ms: list[tuple[float, float]] = []
    noise: Noise | None = None


def timing_of(sidecar):
    """The typed `timing` of a sidecar dict; None for a foreign trace (no sidecar) or a block that is
    not what profkit writes (a sidecar is file content: it is checked here, once, for every view)."""
    timing = sidecar.get("timing") if isinstance(sidecar, dict) else None
    try:
        return msgspec.convert(timing, Timing) if isinstance(timing, dict) else None
    except msgspec.ValidationError:
        return None


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
