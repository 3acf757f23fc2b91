"""profkit: profile LLM inference and explain where the time goes."""

__version__ = "0.1.0"


def load(path):
    """Load a PyTorch profiler trace: `profkit.load("run.json.gz").gpu` is a DataFrame."""
    from profkit.trace import load as _load

    return _load(path)


def analyze(path, **options):
    """Analyse one trace file: `a = profkit.analyze("run.json.gz", window="steps")`; `a.temporal.busy_pct`,
    `a.findings`, and DataFrames `a.kernels`, `a.ops`, `a.gaps`, `a.steps`, `a.classes`, `a.annotations`.
    Options are the command line's names; errors are profkit.errors.ProfkitError. See docs/python.md."""
    from profkit.analysis.notebook import open_analysis

    return open_analysis(path, **options)
