"""The metadata sidecar `profkit capture` writes beside each trace (`<stem>.meta.json`), read once."""


import msgspec
import orjson

from profkit.errors import ProfkitError
from profkit.runfiles.paths import sidecar_path


class Noise(msgspec.Struct, kw_only=True):
    """A capture's `timing.noise` (profkit.common.noise.noise): the verdict and what it rests on."""

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
