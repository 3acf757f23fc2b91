"""Where profkit keeps what it learns about this machine: the user cache folder."""

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """profkit's user cache folder: $XDG_CACHE_HOME/profkit, else ~/.cache/profkit."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "profkit"
