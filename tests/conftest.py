"""Shared fixtures and helpers of the tests.

- real traces: `real_trace(name)`, `all_real_traces()` (they live outside the repo, in ../shared);
- reading traces the plain way, without profkit's loader: `raw_events`, `x_events`;
- synthetic traces: `ev` (one Chrome "X" event), `write_kineto` (a trace file of events);
- the command line: `profkit_cli` (a subprocess, as a user runs it), `main_exit` (in-process);
- the analysis as JSON: `summary_json`; tiny GPT-2 models: `tiny_gpt2_config`, `cpu_capture`.
"""

import gzip
import json
import os
import subprocess
import sys
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


def raw_events(path):
    """All events of a trace file (.json or .json.gz, object or bare list), parsed with the json module."""
    data = Path(path).read_bytes()
    doc = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return doc["traceEvents"] if isinstance(doc, dict) else doc


def x_events(path):
    """The complete ("X") events of a trace file."""
    return [e for e in raw_events(path) if e.get("ph") == "X"]


def ev(cat, name, ts, dur, pid=1, tid=1, **args):
    """One Kineto "X" event; `args` become its args (use **{"External id": 1} for spaced keys)."""
    return {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args}


def write_kineto(path, events, device_properties=None):
    """Write `events` as a Kineto trace (gzipped when the name ends in .gz); return the path."""
    doc = {"schemaVersion": 1, "traceEvents": events}
    if device_properties is not None:
        doc["deviceProperties"] = device_properties
    data = json.dumps(doc).encode()
    Path(path).write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)
    return Path(path)


def profkit_cli(*args, cwd=None, env=None):
    """`python -m profkit ARGS` as a user runs it (in `cwd`, with `env` added to the environment):
    the CompletedProcess (text stdout/stderr)."""
    return subprocess.run([sys.executable, "-m", "profkit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=None if env is None else {**os.environ, **env})


def main_exit(*args):
    """profkit.cli.main(ARGS) in this process, for commands that end in SystemExit: the exit code."""
    from profkit.cli import main

    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return e.value.code


def summary_json(trace, sidecar=None, **options):
    """summarize(trace) as `analyze --json` writes it (plain dicts): for tests of the JSON."""
    from profkit.analysis.options import AnalysisOptions
    from profkit.analysis.result import to_builtins
    from profkit.analysis.summary import summarize

    return to_builtins(summarize(trace, sidecar=sidecar, options=AnalysisOptions(**options)))


def tiny_gpt2_config(**kw):
    """A GPT-2 config small enough to build, capture and compile in seconds.

    initializer_range 0.5: GPT-2's default 0.02 makes a random model repeat the
    prompt's last token forever, and then every decoder "agrees" trivially."""
    from transformers import GPT2Config

    args = dict(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64, bos_token_id=0, eos_token_id=0,
                initializer_range=0.5)
    args.update(kw)
    return GPT2Config(**args)


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


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's ~/.cache/profkit: each gets an empty cache dir."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "profkit"


FAKE_PEAKS = {"bandwidth_gbs": 20.0, "tflops": {"fp32": 0.5, "bf16": 2.0, "fp16": 2.0}}


def write_calibration(path):
    """A calibration of this machine with FAKE_PEAKS at `path` (what `profkit calibrate` writes)."""
    from profkit.analysis.hardware import CPU_NAME, cpu_model

    data = {"device": CPU_NAME, "cpu": cpu_model(), "cores": os.cpu_count(), "date": "2026-12-01T00:00:00+00:00",
            "load": {"load_avg": 0.1, "cpus": os.cpu_count(), "busy": False}, **FAKE_PEAKS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def calibrated(user_cache):
    """A cached calibration of this machine (so CPU captures reuse it instead of measuring)."""
    from profkit.analysis.hardware import default_calibration

    return write_calibration(default_calibration())
