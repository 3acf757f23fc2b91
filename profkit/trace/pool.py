"""Decode blocks of a big trace in worker processes, in file order, with bounded memory.

The reader (this process) decompresses and cuts; the workers decode. A block
of a plain JSON file goes to its worker as (offset, length): the worker reads
it from the file itself, so the text is not copied through a pipe (that copy
cost about as much as decoding it); a gzip file's blocks go as text. At most
two blocks per worker are in flight, so memory stays a few blocks whatever the
file's size. Where processes cannot be started (a daemonic worker, a sandbox),
the blocks are decoded here instead.
"""

import functools
import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from profkit.errors import ProfkitError
from profkit.trace.decode import decode_block


@functools.cache
def _libc():
    """glibc, for its malloc tuning calls; None where the C library is another (nothing to tune).
    Looked up once: find_library runs ldconfig."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, TypeError):
        return None


def keep_freed_memory():
    """In a decoding process: let malloc keep freed memory for the next block (glibc's
    mallopt) rather than hand it back to the system and fault it in afresh. Each block
    allocates tens of MB; on the 2-core VM this project runs on, the page faults were a
    third of the decode's CPU time (1 GB trace: 66 k faults, 1.0 -> 0.7 s per 128 MB)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: keep up to 256 MB free at the heap's top
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MB come from the heap


def return_freed_memory():
    """Give the system back the memory malloc holds free (glibc's malloc_trim): after a load
    in a thread, that thread's malloc arena keeps its blocks' memory (85 MB at 500 MB),
    which would otherwise stay resident through the analysis."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def start_pool(workers):
    """A pool of `workers` forked processes, started now; None where processes cannot be started."""
    if multiprocessing.current_process().daemon:  # a Dask worker, say, may not start children
        return None
    try:
        # fork: the workers start in milliseconds with the decoder already imported.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=keep_freed_memory)
        pool.submit(int).result()  # forks every worker now, from this thread
    except (OSError, ValueError, BrokenProcessPool):
        return None
    return pool


def decode_parallel(stream, workers, pool=None):
    """Yield the Part of every block of `stream` (a reader.EventStream), in order, decoded
    by `pool` (default: one started here; either way shut down at the end).

    A block the decoder finds malformed is pushed back to the reader with every
    block after it, and cut again (checked) before anything later is yielded."""
    pending = deque()
    pool = pool or start_pool(workers)
    stream.sparse = pool is not None  # the workers read a plain file's blocks themselves
    try:
        before = _identity(stream.path)
        blocks = stream.blocks()
        while True:
            for block in blocks:
                if block is not None:
                    pending.append((block, _submit(pool, stream, block) if pool else None))
                while len(pending) >= 2 * workers or (pending and (pool is None or block is None)):
                    part = _next(stream, pending)
                    if part is not None:
                        yield part
            while pending:
                part = _next(stream, pending)
                if part is not None:
                    yield part
            if not stream.has_pushed_back():
                break
            blocks = stream.resume()
        if _identity(stream.path) != before:  # the workers may have read text the reader did not
            raise ProfkitError(f"{stream.path} changed while it was read; run again once it is complete")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _submit(pool, stream, block):
    # Once a block was pushed back, the reader checks each cut: the worker decodes that text.
    if stream.offset is None or stream.validate:
        return pool.submit(decode_block, bytes(block))
    return pool.submit(decode_range, str(stream.path), stream.offset, len(block))


def decode_range(path, offset, length):
    """decode_block of the `length` bytes at `offset` in the file at `path`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return decode_block(os.pread(fd, length, offset))
    finally:
        os.close(fd)


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _next(stream, pending):
    """The Part of the first pending block; None (and everything pending pushed back) if malformed."""
    part = _result(*pending[0])
    if part is None:
        stream.push_back([b for b, _ in pending])
        for _, future in pending:
            if future is not None:
                future.cancel()
        pending.clear()
        return None
    pending.popleft()
    return part


def _result(block, future):
    if future is None:
        return decode_block(bytes(block))
    try:
        return future.result()
    except (BrokenProcessPool, OSError):
        return decode_block(bytes(block))  # a worker died (e.g. out of memory): decode it here
