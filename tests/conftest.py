"""Shared fixtures. Real GPU traces live outside the repo, in ../shared."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROFKIT_SHARED", REPO.parent / "shared")) / "traces" / "real"


def real_trace(name):
    """Path of a trace in ../shared/traces/real, or skip the test when absent."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is not beside this checkout)")
    return path


def all_real_traces():
    """Every Chrome trace under ../shared/traces/real (empty list when absent)."""
    if not SHARED.exists():
        return []
    return sorted(p for p in SHARED.rglob("*.json.gz") if "memory_analysis" not in p.parts)


@pytest.fixture(autouse=True, scope="session")
def _private_trace_cache(tmp_path_factory):
    """Tests (and the CLI they run) use a cache folder of their own, never the user's."""
    old = os.environ.get("PROFKIT_CACHE_DIR")
    os.environ["PROFKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("profkit-cache"))
    yield
    if old is None:
        os.environ.pop("PROFKIT_CACHE_DIR", None)
    else:
        os.environ["PROFKIT_CACHE_DIR"] = old


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not available")
    return SHARED
