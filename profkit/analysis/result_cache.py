"""Results kept for re-analysis: `analyze` of an unchanged trace answers from the cache.

The columnar cache (profkit.trace.cache) saves reading and decoding a trace; what is
left of a warm run is the interpreter, its imports (pandas) and the analysis. This
keeps the analysis' JSON too, beside the trace's columns (`<key>.result.json`), so a
repeated `analyze` only hashes its inputs and prints.

A result is served only when everything it was computed from is unchanged: the
trace (the loader's content fingerprint), its capture sidecar, the calibration file
that could supply CPU peaks, the --whatif-against run and its sidecar, the options
(rules included), profkit's own code (size and mtime of every module) and the
libraries that compute it (numpy, pandas, msgspec: their entry modules). Anything
else is a miss. It follows the trace cache's switches (--no-cache,
PROFKIT_NO_CACHE, MIN_BYTES), its folder, atomic writes, `profkit cache
info|clear` and its size limit.
"""

import hashlib
import os
import warnings
from importlib.util import find_spec
from pathlib import Path

import orjson

from profkit.fileio import atomic_path
from profkit.trace import cache
from profkit.runfiles.paths import sidecar_path

LIBRARIES = ("numpy", "pandas", "msgspec")


def summary(path, options):
    """The Summary of one trace: the kept one when its inputs are unchanged, else computed (and kept)."""
    from profkit.analysis.result import decode

    kept, data = _lookup(path, options)
    return decode(data) if data is not None else _compute(path, options, kept)[0]


def _served(data, path):
    """Whether a kept result may stand for `path`: it decodes into the result model (the schema) and
    claims this trace, with a window no measurement contradicts (an entry written by anything but
    profkit, or damaged into other valid JSON, is recomputed, not printed)."""
    import msgspec

    from profkit.analysis.result import decode

    try:
        s = decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    t = s.temporal
    return (s.trace == str(path) and 0 <= t.busy_pct <= 100 and 0 <= t.idle_pct <= 100 and t.busy_us >= 0
            and t.idle_us >= 0)


def summary_json(path, options):
    """`analyze --json`'s bytes for one trace; a hit needs no pandas and no analysis at all."""
    kept, data = _lookup(path, options)
    return data if data is not None else _compute(path, options, kept)[1]


def _lookup(path, options):
    """(where the result is kept or None, its JSON or None)."""
    kept = entry(path, options)
    data = read(kept) if kept else None
    if data is not None and not _served(data, path):
        warnings.warn(f"profkit cache: discarding {kept}: not a result of this trace", cache.CacheWarning, stacklevel=2)
        cache.remove(kept)
        data = None
    return kept, data


def _compute(path, options, kept):
    from profkit.trace.loader import load_later

    trace = load_later(path)  # decoding starts now, beside the imports below
    from profkit.analysis.result import encode
    from profkit.analysis.summarize import summary_of
    from profkit.analysis.tables import Tables
    from profkit.runfiles.sidecar import read_sidecar

    result = summary_of(Tables(trace()), sidecar=read_sidecar(path), options=options)
    data = encode(result)
    if kept:
        write(kept, data)
    return result, data


def entry(path, options):
    """Where the result of analysing `path` with `options` lives, or None when it is not kept
    (cache off, a file too small for the trace cache, or an input that cannot be read)."""
    # The trace's columns entry is named by its content fingerprint: that name stands for the
    # trace here (hashing the file again would read up to 32 MB twice).
    columns = None if os.environ.get("PROFKIT_NO_CACHE") else cache.entry_path(path)
    if columns is None:
        return None
    from profkit.common.hardware import default_calibration

    inputs = [sidecar_path(path), options.calibration or default_calibration()]
    if options.whatif_against:
        inputs += [options.whatif_against, sidecar_path(options.whatif_against)]
    prints = [columns.name, *(_file(p) for p in inputs)]
    h = hashlib.blake2b(digest_size=16)
    h.update(orjson.dumps([str(path), prints, repr(options), _code()]))
    return cache.cache_dir() / f"{h.hexdigest()}.result.json"


def read(entry_path):
    """The stored JSON (bytes), or None when absent or unreadable."""
    try:
        data = entry_path.read_bytes()
        orjson.loads(data)  # a damaged entry is a miss, never output
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as e:
        warnings.warn(f"profkit cache: discarding unreadable result {entry_path} ({e})", cache.CacheWarning,
                      stacklevel=2)
        cache.remove(entry_path)
        return None
    try:
        os.utime(entry_path)  # recently used
    except OSError:
        pass
    return data


def write(entry_path, data: bytes):
    """Store the JSON atomically; a failure only warns."""
    try:
        with atomic_path(entry_path) as tmp:
            tmp.write_bytes(data)
        cache.prune(entry_path.parent)
    except Exception as e:
        warnings.warn(f"profkit cache: could not save {entry_path} ({type(e).__name__}: {e})", cache.CacheWarning,
                      stacklevel=2)


def _file(path):
    """Fingerprint of an input file; "absent" when there is none (its later appearance is a change)."""
    path = Path(path).expanduser()
    if not path.exists():
        return "absent"
    return cache.fingerprint(path)


def _code():
    """profkit's code and the libraries it computes with: editing a module (or upgrading) is a miss."""
    root = Path(__file__).resolve().parents[1]  # the profkit package (its __init__ holds the version)
    files = []
    for dirpath, _, names in os.walk(root):
        for n in sorted(names):
            if n.endswith(".py"):
                st = os.stat(os.path.join(dirpath, n))
                files.append((os.path.relpath(os.path.join(dirpath, n), root), st.st_size, st.st_mtime_ns))
    return [sorted(files), [_installed(lib) for lib in LIBRARIES]]


def _installed(lib):
    """Where a library is installed and its entry module's size and mtime (an upgrade rewrites it), found
    without importing it (importlib.metadata costs more than the rest of a cache hit's key)."""
    spec = find_spec(lib)
    if spec is None or not spec.origin:
        return None
    try:
        st = os.stat(spec.origin)
    except OSError:
        return None
    return [spec.origin, st.st_size, st.st_mtime_ns]
