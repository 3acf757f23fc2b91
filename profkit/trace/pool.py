"""Decode blocks of a big trace in worker processes, in file order, with bounded memory.

The reader (this process) decompresses and cuts; the workers decode. At most
two blocks per worker are in flight, so memory stays a few blocks whatever the
file's size. Where processes cannot be started (a daemonic worker, a sandbox),
the blocks are decoded here instead.
"""

import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from profkit.trace.decode import decode_block


def decode_parallel(stream, workers):
    """Yield the Part of every block of `stream` (a reader.EventStream), in order.

    A block the decoder finds malformed is pushed back to the reader with every
    block after it, and cut again (checked) before anything later is yielded."""
    pending = deque()
    try:
        # fork: the workers start in milliseconds with the decoder already imported.
        pool = None if multiprocessing.current_process().daemon else ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"))
    except (OSError, ValueError):
        pool = None
    try:
        blocks = stream.blocks()
        while True:
            for block in blocks:
                if block is not None:
                    pending.append((block, pool.submit(decode_block, block) if pool else None))
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
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


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
        return decode_block(block)
    try:
        return future.result()
    except (BrokenProcessPool, OSError):
        return decode_block(block)  # a worker died (e.g. out of memory): decode it here
