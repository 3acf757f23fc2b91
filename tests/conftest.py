"""Fixtures of the tests (their helper functions are in tests/helpers/).

- `_private_trace_cache` (autouse): profkit's trace cache in a folder of the session's own;
- `user_cache` (autouse): an empty XDG cache for each test, never the user's ~/.cache/profkit;
- `shared_dir`: ../shared/traces/real, or skip; `dlrm_dir`: a folder of the 8 DLRM rank traces, or skip; `calibrated`: a cached fake calibration of this machine;
- `cpu_capture`: a profkit capture of a tiny GPT-2 on the CPU (eager).
"""

import os

import pytest

from tests.helpers.cli import profkit_cli
from tests.helpers.models import tiny_gpt2_config, write_calibration
from tests.helpers.traces import DLRM, SHARED


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


@pytest.fixture(scope="session")
def dlrm_dir(tmp_path_factory):
    """A folder holding (links to) the eight DLRM rank traces and nothing else, or skip."""
    if not (SHARED / DLRM[0]).exists():
        pytest.skip("../shared not available")
    folder = tmp_path_factory.mktemp("dlrm")
    for name in DLRM:
        (folder / name).symlink_to(SHARED / name)
    return folder


@pytest.fixture(scope="session")
def cpu_capture(tmp_path_factory):
    """A profkit capture of the tiny GPT-2 on the CPU (eager): the trace path; its sidecar is beside it."""
    root = tmp_path_factory.mktemp("cpu_capture")
    (root / "tiny").mkdir()
    # Its own cache with fake peaks: the capture neither measures this machine nor touches the user's cache.
    write_calibration(root / "xdg" / "profkit" / "calibration.json")
    tiny_gpt2_config().to_json_file(root / "tiny" / "config.json")
    r = profkit_cli("capture", "--model", root / "tiny", "--mode", "eager", "--device", "cpu", "--prompt-len", 8,
                    "--new-tokens", 4, "--warmup", 1, "--steps", 2, "--out", root / "out",
                    env={"XDG_CACHE_HOME": str(root / "xdg")})
    assert r.returncode == 0, r.stderr
    return root / "out" / "tiny-eager-b1-s8.json.gz"


@pytest.fixture(scope="session")
def main_job_capture(tmp_path_factory):
    """The README's main job on the tiny GPT-2 (eager and compiled on the CPU): the capture folder."""
    root = tmp_path_factory.mktemp("main_job")
    write_calibration(root / "xdg" / "profkit" / "calibration.json")
    (root / "tiny").mkdir()
    tiny_gpt2_config().to_json_file(root / "tiny" / "config.json")
    r = profkit_cli("capture", "--model", root / "tiny", "--mode", "eager,compiled", "--device", "cpu", "--prompt-len", 8,
                    "--new-tokens", 4, "--warmup", 1, "--steps", 2, "--out", root / "traces",
                    env={"XDG_CACHE_HOME": str(root / "xdg")})
    assert r.returncode == 0, r.stderr
    return root / "traces"


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's ~/.cache/profkit: each gets an empty cache dir."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "profkit"


@pytest.fixture
def calibrated(user_cache):
    """A cached calibration of this machine (so CPU captures reuse it instead of measuring)."""
    from profkit.common.hardware import default_calibration

    return write_calibration(default_calibration())
