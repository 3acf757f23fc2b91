"""Traces for the tests: real ones in ../shared, plain-JSON readers, synthetic Kineto traces, summaries as JSON."""

import gzip
import json
import os
from pathlib import Path

import pytest

from tests.helpers import REPO

SHARED = Path(os.environ.get("PROFKIT_SHARED", REPO.parent / "shared")) / "traces" / "real"


# The 8-rank DLRM training job in ../shared (SOURCES-2.md): one trace per rank.
DLRM = [f"kineto-v100x8-dlrm-train-rank{i}.json.gz" for i in range(8)]


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


def summary_json(trace, sidecar=None, **options):
    """summarize(trace) as `analyze --json` writes it (plain dicts): for tests of the JSON."""
    from profkit.analysis.options import AnalysisOptions
    from profkit.analysis.result import to_builtins
    from profkit.analysis.analyze import summarize

    return to_builtins(summarize(trace, sidecar=sidecar, options=AnalysisOptions(**options)))
