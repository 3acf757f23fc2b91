"""The columnar cache: a trace's columns saved after the first load, read back on the next.

Entries live in `$PROFKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/profkit/traces`,
else `~/.cache/profkit/traces`: one uncompressed `.npz` per trace (numpy
arrays, no pickle; the symbol tables, metadata and warnings as one JSON array).
An entry is keyed by the loader's version, the file's resolved path, size and
mtime, and a hash of its content (all of it up to FULL_HASH_BYTES, else its
first and last HASH_EDGE bytes), so a changed file is never served stale.
Writes are atomic (a reader never sees half an entry); an unreadable entry is
discarded with a warning; when the folder outgrows MAX_BYTES the least recently
used entries go.
"""

import hashlib
import os
import warnings
from pathlib import Path

import orjson

from profkit.common.paths import user_cache_dir
from profkit.fileio import atomic_path

# Bump whenever decoding could give different columns for the same file.
LOADER_VERSION = 5  # 5: NaN, Infinity and lone surrogates repaired; ends past 2^53 µs skipped
MIN_BYTES = 1 << 20  # smaller files load faster than an entry is checked
FULL_HASH_BYTES = 32 << 20
HASH_EDGE = 4 << 20
MAX_BYTES = 4 << 30


class CacheWarning(UserWarning):
    """A cache entry could not be used or written (the trace is loaded from the file instead)."""


def cache_dir() -> Path:
    """Where trace entries live: $PROFKIT_CACHE_DIR, else the user cache folder's traces/."""
    if os.environ.get("PROFKIT_CACHE_DIR"):
        return Path(os.environ["PROFKIT_CACHE_DIR"])
    return user_cache_dir() / "traces"


def fingerprint(path: Path, salt=()):
    """A hex digest of `path`'s identity and content (resolved path, device, inode, size, mtime and
    ctime in ns, and all of its bytes up to FULL_HASH_BYTES, else the first and last HASH_EDGE),
    with `salt` mixed in; None when the file cannot be read. The inode change time covers the
    bytes not hashed: every write sets it, and so does setting the mtime back (os.utime,
    `touch -d`), while no call sets it back, so a file changed in the middle never matches."""
    try:
        st = os.stat(path)
        h = hashlib.blake2b(digest_size=16)
        h.update(orjson.dumps([*salt, str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                               st.st_ctime_ns]))
        with open(path, "rb") as f:
            if st.st_size <= FULL_HASH_BYTES:
                h.update(f.read())
            else:
                h.update(f.read(HASH_EDGE))
                f.seek(-HASH_EDGE, os.SEEK_END)
                h.update(f.read())
    except OSError:
        return None
    return h.hexdigest()


def entry_path(path: Path):
    """Where the entry of `path` lives, or None for a file too small to cache (or unreadable)."""
    try:
        if os.stat(path).st_size < MIN_BYTES:
            return None
    except OSError:
        return None
    digest = fingerprint(path, salt=(LOADER_VERSION,))
    return None if digest is None else cache_dir() / f"{digest}.npz"


def read(entry: Path):
    """(columns, meta, warnings) from an entry, or None when absent or unusable."""
    import numpy as np  # here, not at the top: paths and fingerprints need neither (profkit.analysis.result_cache)

    from profkit.trace.columns import TABLES, Columns

    try:
        with np.load(entry, allow_pickle=False) as z:
            info = orjson.loads(z["info"].tobytes())
            if info["version"] != LOADER_VERSION:
                raise ValueError(f"loader version {info['version']}")
            tables = {t: {c: z[f"{t}.{c}"] for c in spec} for t, spec in TABLES.items()}
    except FileNotFoundError:
        return None
    except Exception as e:  # any damage: a cache must never stop a load
        warnings.warn(f"profkit cache: discarding unreadable entry {entry} ({type(e).__name__}: {e})",
                      CacheWarning, stacklevel=3)
        remove(entry)
        return None
    try:
        os.utime(entry)  # recently used
    except OSError:
        pass
    cols = Columns.restore(tables, names=info["names"], shapes=[s.encode() for s in info["shapes"]], ids=info["ids"],
                           counts={k: n for k, n in info["counts"]},
                           thread_names={(p, t): n for p, t, n in info["threads"]})
    cols.bad = info["bad"]
    return cols, info["meta"], info["warnings"]


def write(entry: Path, cols, meta, trace_warnings):
    """Save an entry atomically; a failure (full disk, odd strings) only warns."""
    import numpy as np

    from profkit.trace.columns import TABLES

    try:
        info = {"version": LOADER_VERSION, "names": cols.names.strings,
                "shapes": [s.decode() for s in cols.shapes.strings], "ids": cols.ids.strings,
                "counts": list(cols.counts.items()), "threads": [[p, t, n] for (p, t), n in cols.thread_names.items()],
                "bad": cols.bad, "meta": meta, "warnings": trace_warnings}
        arrays = {f"{t}.{c}": a for t in TABLES for c, a in cols.table(t).items()}
        arrays["info"] = np.frombuffer(orjson.dumps(info), np.uint8)
        with atomic_path(entry) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        prune(entry.parent)
    except Exception as e:
        warnings.warn(f"profkit cache: could not save {entry} ({type(e).__name__}: {e})", CacheWarning,
                      stacklevel=3)


def entries(folder=None):
    """Every cache file: trace columns (`.npz`) and analysis results (`.result.json`, profkit.analysis.result_cache)."""
    folder = Path(folder or cache_dir())
    return sorted([*folder.glob("*.npz"), *folder.glob("*.result.json")]) if folder.is_dir() else []


def clear(folder=None):
    """Remove every entry; returns (count, bytes)."""
    found = entries(folder)
    size = sum(_size(p) for p in found)
    for p in found:
        remove(p)
    return len(found), size


def info(folder=None):
    found = entries(folder)
    results = sum(p.name.endswith(".result.json") for p in found)
    return {"dir": str(folder or cache_dir()), "entries": len(found) - results, "results": results,
            "bytes": sum(_size(p) for p in found), "max_bytes": MAX_BYTES, "loader_version": LOADER_VERSION}


def prune(folder):
    """Remove the least recently used files until the folder is within MAX_BYTES."""
    found = [(_mtime(p), _size(p), p) for p in entries(folder)]
    total = sum(s for _, s, _ in found)
    for _, size, p in sorted(found):
        if total <= MAX_BYTES:
            break
        remove(p)
        total -= size


def _mtime(p):
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _size(p):
    try:
        return p.stat().st_size
    except OSError:
        return 0


def remove(p):
    """Remove a cache file; one already gone (another process) is fine."""
    try:
        os.unlink(p)
    except OSError:
        pass
