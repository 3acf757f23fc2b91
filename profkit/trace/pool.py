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


def decode_parallel(blocks, workers):
    """Yield the Part of every block of `blocks`, in order."""
    if multiprocessing.current_process().daemon:
        yield from map(decode_block, blocks)
        return
    try:
        # fork: the workers start in milliseconds with the decoder already imported.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    except (OSError, ValueError):
        yield from map(decode_block, blocks)
        return
    pending = deque()
    try:
        for block in blocks:
            pending.append((block, pool.submit(decode_block, block)))
            if len(pending) >= 2 * workers:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(block, future):
    try:
        return future.result()
    except (BrokenProcessPool, OSError):
        return decode_block(block)  # a worker died (e.g. out of memory): decode it here
