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


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not available")
    return SHARED


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's ~/.cache/profkit: each gets an empty cache dir."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "profkit"


FAKE_PEAKS = {"bandwidth_gbs": 20.0, "tflops": {"fp32": 0.5, "bf16": 2.0, "fp16": 2.0}}


@pytest.fixture
def calibrated(user_cache):
    """A cached calibration of this machine (so CPU captures reuse it instead of measuring)."""
    import json

    from profkit.analysis.hardware import CPU_NAME, cpu_model, default_calibration

    data = {"device": CPU_NAME, "cpu": cpu_model(), "cores": os.cpu_count(), "date": "2026-12-01T00:00:00+00:00",
            "load": {"load_avg": 0.1, "cpus": os.cpu_count(), "busy": False}, **FAKE_PEAKS}
    path = default_calibration()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
