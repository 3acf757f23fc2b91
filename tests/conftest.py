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


def summary_json(trace, sidecar=None, **options):
    """summarize(trace) as `analyze --json` writes it (plain dicts): for tests of the JSON."""
    from profkit.analysis.options import AnalysisOptions
    from profkit.analysis.result import to_builtins
    from profkit.analysis.summary import summarize

    return to_builtins(summarize(trace, sidecar=sidecar, options=AnalysisOptions(**options)))


def tiny_gpt2_config(**kw):
    """A GPT-2 config small enough to build, capture and compile in seconds."""
    from transformers import GPT2Config

    args = dict(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64, bos_token_id=0, eos_token_id=0,
                initializer_range=0.5)
    args.update(kw)
    return GPT2Config(**args)


@pytest.fixture(scope="session")
def cpu_capture(tmp_path_factory):
    """A profkit capture of the tiny GPT-2 on the CPU (eager): the trace path; its sidecar is beside it."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("cpu_capture")
    (root / "tiny").mkdir()
    tiny_gpt2_config().to_json_file(root / "tiny" / "config.json")
    r = subprocess.run([sys.executable, "-m", "profkit", "capture", "--model", str(root / "tiny"), "--mode", "eager",
                        "--device", "cpu", "--prompt-len", "8", "--new-tokens", "4", "--warmup", "1", "--steps", "2",
                        "--out", str(root / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return root / "out" / "tiny-eager-b1-s8.json.gz"
