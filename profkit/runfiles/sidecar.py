"""The metadata sidecar `profkit capture` writes beside each trace (`<stem>.meta.json`), read once.

`read_sidecar` gives a typed `Capture` (every block a Struct, fields in the order the capture
writes them, so the Summary's `capture` block prints what the file holds); the views read its
attributes. A block of the wrong type is one clear error, not a crash later in a view.
`read_raw` gives the file's dict as it is, for rewriting it (run manifests).
"""

from typing import Any

import msgspec
import orjson

from profkit.errors import ProfkitError
from profkit.runfiles.paths import sidecar_path

Number = int | float  # as the file has it: 52 stays 52, 52.0 stays 52.0


class Record(msgspec.Struct, kw_only=True):
    """A sidecar block: every field optional (older and hand-made sidecars lack some), all written."""


class LoadAverage(Record):
    before: Number | None = None
    after: Number | None = None


class Noise(Record):
    """A capture's `timing.noise` (profkit.common.noise.noise): the spread of the timed runs, the
    machine's load, the verdict and what it rests on."""

    samples: int | None = None
    median_ms: Number | None = None
    min_ms: Number | None = None  # of the timed runs' total times
    max_ms: Number | None = None
    cv_pct: Number | None = None
    load_avg: LoadAverage | None = None
    cpus: int | None = None
    steal_pct: Number | None = None
    verdict: str | None = None  # "quiet" or "noisy"; None: not judged
    reasons: list[str] = []
    rule: str | None = None


class Timing(Record):
    """A capture's `timing`: medians of the timed runs (ms), each run's (prefill, decode) ms, the noise."""

    ttft_ms: Number | None = None
    decode_ms_per_token: Number | None = None
    tokens_per_s: Number | None = None
    total_ms: Number | None = None
    samples_ms: list[tuple[Number, Number]] = []
    noise: Noise | None = None


class CaptureModel(Record):
    """The model a capture ran: its name and source, the ModelShape fields, K/V groups, parameters."""

    name: str | None = None
    source: str | None = None
    family: str | None = None
    n_layer: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    n_kv_head: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    n_positions: int | None = None
    tie_word_embeddings: bool | None = None
    kv_groups: int | None = None
    params: int | None = None


class Compile(Record):
    """How a compiled (or graph-captured) mode was built, and how long compiling took."""

    backend: str | None = None
    mode: str | None = None
    dynamic: bool | None = None
    fullgraph: bool | None = None
    kv_cache: str | None = None  # "static": allocated once
    options: dict[str, Any] | None = None
    compile_s: Number | None = None


class CaptureDevice(Record):
    type: str | None = None  # cpu / cuda
    name: str | None = None
    threads: int | None = None


class PeaksLoad(Record):
    load_avg: Number | None = None
    others_pct: Number | None = None  # other processes' share of all CPU time while measuring
    cpus: int | None = None
    busy: bool | None = None


class Peaks(Record):
    """The CPU peaks a capture used (profkit.capture.calibrate.cpu_peaks) and where they came from."""

    device: str | None = None
    cpu: str | None = None
    cores: int | None = None
    date: str | None = None
    load: PeaksLoad | None = None
    bandwidth_gbs: Number | None = None
    tflops: dict[str, Number | None] | None = None
    origin: str | None = None


class OutputTokens(Record):
    sha256: str | None = None
    first: list[int] = []


class Capture(Record):
    """One capture's sidecar."""

    schema: str | None = None
    model: CaptureModel | None = None
    mode: str | None = None
    compile: Compile | None = None
    device: CaptureDevice | None = None
    dtype: str | None = None
    batch: int | None = None
    prompt_len: int | None = None
    new_tokens: int | None = None
    warmup: int | None = None
    steps: int | None = None
    seed: int | None = None
    timing: Timing | None = None
    peaks: Peaks | None = None
    peak_memory_bytes: int | None = None
    peak_memory_kind: str | None = None
    output_tokens: OutputTokens | None = None
    versions: dict[str, Any] | None = None
    command: str | list[str] | None = None
    trace: str | None = None
    created: str | None = None


def capture_of(data, where="capture metadata"):
    """The Capture of a sidecar's dict (a Capture is returned as it is; None stays None)."""
    if data is None or isinstance(data, Capture):
        return data
    try:
        return msgspec.convert(data, Capture)
    except msgspec.ValidationError as e:
        raise ProfkitError(f"{where}: not what profkit capture writes ({e})") from None


def read_raw(trace_path):
    """The sidecar's dict exactly as the file holds it, or None when there is none."""
    path = sidecar_path(trace_path)
    if not path.is_file():
        return None
    try:
        meta = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise ProfkitError(f"{path}: unreadable capture metadata ({e})") from None
    return meta if isinstance(meta, dict) else None


def read_sidecar(trace_path):
    """The Capture of a profkit capture's trace, or None for a foreign trace."""
    return capture_of(read_raw(trace_path), str(sidecar_path(trace_path)))
