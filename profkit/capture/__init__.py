"""Capture decoder inference (GPT-2, Llama, Qwen2, Mistral) under torch.profiler (the layer that imports torch).

Entry point: profkit.capture.run.capture_run. Offline mode is forced here, before
any submodule imports transformers: profkit never touches the network, and a
model that is not local must fail fast instead of downloading.

This file itself imports neither torch nor transformers: `require_torch` tells a
user of the core install (`pip install profkit`) what to install instead of a
traceback.
"""

import importlib.util
import os

from profkit.errors import ProfkitError

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

INSTALL = "pip install 'profkit[capture]'"


def require_torch(command):
    """Raise a one-line error naming the install line when torch or transformers is missing."""
    missing = [name for name in ("torch", "transformers") if _absent(name)]
    if missing:
        raise ProfkitError(f"`profkit {command}` runs models and needs {' and '.join(missing)}, which this "
                           f"install lacks: {INSTALL}  (analyze, report, annotate, open and serve work without)")


def _absent(name):
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):  # a half-installed package, or sys.modules[name] = None
        return True
