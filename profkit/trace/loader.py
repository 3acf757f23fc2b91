"""The loader: a trace file (or its cached columns) into one Trace object."""

import os
from pathlib import Path

from profkit.trace import cache as _cache
from profkit.trace.columns import Columns
from profkit.errors import ProfkitError
from profkit.trace.decode import Unreadable, decode_block
from profkit.trace.reader import EventStream

# Inputs at least this large (bytes on disk; gzip counts 8x) are decoded by a
# pool of worker processes, one per core: below it, starting them costs more
# than it saves.
PARALLEL_BYTES = 96 << 20


def load(path, cache=None, workers=None):
    """Read a .json / .json.gz trace (gzip found by magic bytes) into a Trace.

    Raises ProfkitError for input that is not a readable trace. A file cut short
    still loads what could be read, with a warning in `trace.warnings`.
    `cache=False` bypasses the columnar cache (profkit.trace.cache; default: use
    it unless PROFKIT_NO_CACHE is set); `workers` forces the number of decoding
    processes (default: by input size and cores).
    """
    from profkit.trace.model import Trace  # pandas: not needed to decode (see load_later)

    path = Path(path)
    return Trace(path, *_columns(path, cache, workers))


def load_later(path):
    """Start loading `path` now and return a function that gives its Trace.

    A trace decoded in one process anyway (under PARALLEL_BYTES, or cached) is
    decoded in a forked process while this one goes on importing pandas and the
    analysis (about 0.4 s, the same order as decoding it): the two overlap on two
    cores. A bigger trace not in the cache has its pool of decoding processes
    forked now and fed by a thread of this process, which mostly waits for them.
    Where no process can be started (one core, a daemonic process such as a Dask
    worker), the trace loads when the function is called."""
    from profkit.trace.pool import start_pool  # None where no process can be started

    path = Path(path)
    workers = _workers_for(path)
    if _cores() > 1 and workers > 1 and not _cached(path):
        return _load_in_thread(path, workers)
    pool = start_pool(1) if _cores() > 1 and workers == 1 else None
    if pool is not None:
        future = pool.submit(_columns, path, None, 1)

    def trace():
        from concurrent.futures.process import BrokenProcessPool

        from profkit.trace.model import Trace

        if pool is None:
            return load(path)
        try:
            return Trace(path, *future.result())
        except (BrokenProcessPool, OSError):
            return load(path)  # the process died (e.g. out of memory): load it here
        finally:
            pool.shutdown()

    return trace


def _cached(path):
    entry = None if os.environ.get("PROFKIT_NO_CACHE") else _cache.entry_path(path)
    return entry is not None and entry.exists()


def _load_in_thread(path, workers):
    """load_later for a trace decoded by a pool: the pool is forked here (before any thread
    exists), a thread reads the file and gathers the columns while the caller imports."""
    import threading

    from profkit.trace.pool import return_freed_memory, start_pool

    pool = start_pool(workers)
    if pool is None:
        return lambda: load(path)
    box = {}

    def run():
        try:
            box["columns"] = _columns(path, None, workers, pool)
        except BaseException as e:  # raised again in the caller's thread
            box["error"] = e
        finally:
            pool.shutdown()  # (already, unless the cache answered)

    thread = threading.Thread(target=run, name="profkit-load", daemon=True)
    thread.start()

    def trace():
        from profkit.trace.model import Trace

        thread.join()
        return_freed_memory()
        if "error" in box:
            raise box["error"]
        return Trace(path, *box["columns"])

    return trace


def _columns(path, cache, workers, pool=None):
    """(meta, columns, warnings) of a trace file, as Trace takes them: from the cache, else decoded."""
    if cache is None:
        cache = not os.environ.get("PROFKIT_NO_CACHE")
    entry = _cache.entry_path(path) if cache else None
    if entry is not None:
        hit = _cache.read(entry)
        if hit is not None:
            cols, meta, warnings = hit
            return meta, cols, warnings
    stream = EventStream(path)
    if workers is None:
        workers = _workers_for(path)
    cols = Columns()
    try:
        if workers > 1:
            from profkit.trace.pool import decode_parallel

            for part in decode_parallel(stream, workers, pool):
                cols.extend(part)
        else:
            for block in stream.blocks():
                if block is None:
                    continue  # a checkpoint: every block given out is decoded already
                part = decode_block(block)
                if part is None:
                    stream.push_back([block])
                else:
                    cols.extend(part)
    except Unreadable as e:
        raise ProfkitError(f"{path}: {e}") from None
    warnings = []
    if stream.truncated:
        warnings.append(f"{stream.truncated}; analysing the events read before that point")
    for what, made, at, why in stream.repaired:
        warnings.append(f"{path}: {what} inside the events (the first at byte {at} of the JSON text), each "
                        f"replaced by {made}: {why}")
    if cols.bad:
        warnings.append(f"skipped {cols.bad} events with a missing, negative, non-numeric or impossible ts/dur (an end past 2^53 µs)")
    if entry is not None:
        _cache.write(entry, cols, stream.meta, warnings)
    return stream.meta, cols, warnings


def _workers_for(path):
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        size = os.stat(path).st_size * (8 if gz else 1)
    except OSError:
        return 1  # the reader says what is wrong
    return min(_cores(), 4) if size >= PARALLEL_BYTES else 1


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
