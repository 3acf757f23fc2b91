"""Load any PyTorch profiler (Kineto) Chrome trace into one Trace object."""

import gc
from pathlib import Path

from profkit.trace.columns import Columns
from profkit.trace.model import Trace
from profkit.trace.reader import EventStream

__all__ = ["Trace", "load"]


def load(path) -> Trace:
    """Read a .json / .json.gz trace (gzip found by magic bytes) into a Trace.

    Raises ProfkitError for input that is not a readable trace. A file cut short
    still loads what could be read, with a warning in `trace.warnings`.
    """
    stream = EventStream(Path(path))
    cols = Columns()
    # Parsing makes millions of short-lived dicts and no reference cycles: the
    # cyclic garbage collector only rescans them (a third of the load time on
    # a 500 MB trace); reference counting frees every batch as before.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for batch in stream.batches():
            cols.add(batch)
    finally:
        if collecting:
            gc.enable()
    warnings = []
    if stream.truncated:
        warnings.append(f"{stream.truncated}; analysing the events read before that point")
    if cols.bad:
        warnings.append(f"skipped {cols.bad} events with a missing, negative or non-numeric ts/dur")
    return Trace(path, stream.meta, cols, warnings)
