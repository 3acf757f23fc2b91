"""Load any PyTorch profiler (Kineto) Chrome trace into one Trace object.

`load` and `Trace` are imported on first use, so the cache module (what a re-analysis
answered from the cache needs) comes without pandas.
"""

__all__ = ["Trace", "load"]


def __getattr__(name):
    if name == "load":
        from profkit.trace.loader import load

        return load
    if name == "Trace":
        from profkit.trace.model import Trace

        return Trace
    raise AttributeError(f"module 'profkit.trace' has no attribute {name!r}")
