"""profkit: profile LLM inference and explain where the time goes."""

__version__ = "0.1.0"


def load(path):
    """Load a PyTorch profiler trace: `profkit.load("run.json.gz").gpu` is a DataFrame."""
    from profkit.trace import load as _load

    return _load(path)
