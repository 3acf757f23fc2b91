"""The result model's JSON Schema: committed file == generated, and real `analyze --json` output validates."""

import json

import jsonschema
import msgspec
import pytest

from profkit.analysis.result import SCHEMA_VERSION, Job, Summary, schema_text
from tests.helpers import REPO
from tests.helpers.cli import profkit_cli
from tests.helpers.traces import real_trace

SCHEMA = REPO / "docs" / "schema.json"
# Different Kineto eras and kinds: 2021 TensorBoard-plugin trace, RTX 5080 eager and CUDA-graph,
# H100 HF inference, a trace without kernel events, a CPU-only HTA trace.
TRACES = [
    "kineto-legacy2021-resnet50-train-tbplugin.json.gz",
    "kineto-rtx5080-mlp-train-eager.json.gz",
    "kineto-rtx5080-mlp-train-cudagraph-manual.json.gz",
    "kineto-h100-bert-small-hf-eager-infer.json.gz",
    "kineto-a100-edgecase-no-kernel-events.json.gz",
    "hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz",
]


def analyze_json(*args):
    r = profkit_cli("analyze", "--json", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_the_generated_one():
    assert SCHEMA.read_text() == schema_text(), "run: python -m profkit.analysis.result"


def check(validator, text, kind):
    doc = json.loads(text)
    validator.validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION
    # The JSON also decodes back into the typed model, field for field.
    back = msgspec.json.decode(text, type=kind, strict=True)
    assert json.loads(msgspec.json.encode(back)) == doc
    return doc


@pytest.mark.parametrize("name", TRACES)
def test_real_trace_output_validates(validator, name):
    doc = check(validator, analyze_json(real_trace(name), "--all-gaps"), Summary)
    assert len(doc["gaps"]["all"]) == doc["gaps"]["count"]


def test_cpu_capture_output_validates(validator, cpu_capture):
    doc = check(validator, analyze_json(cpu_capture), Summary)
    assert doc["device"]["kind"] == "cpu" and doc["capture"]["mode"] == "eager"
    assert doc["roofline"]["prefill"]["measured_ms"] > 0 and doc["cpu"]["threads"] >= 1


def test_job_output_validates(validator, tmp_path):
    for name in ("sampled_rank-0.json.gz", "sampled_rank-1.json.gz"):
        (tmp_path / name).symlink_to(real_trace(f"hta/trace_filter/{name}"))
    doc = check(validator, analyze_json(tmp_path), Job)
    assert [r["rank"] for r in doc["ranks"]] == [0, 1]


def test_counts_are_integers_in_the_schema():
    """A field that counts things is an integer; averages are named `..._mean`."""
    defs = json.loads(SCHEMA.read_text())["$defs"]
    counts = ("count", "ops", "launches", "kernels", "gpu_ops", "threads", "counted", "no_shapes", "rank", "step")
    for block, d in defs.items():
        for name, prop in d.get("properties", {}).items():
            types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
            if name in counts and types & {"number", "integer"}:
                assert "number" not in types, (block, name, prop)
            assert not name.endswith("_per_launch"), (block, name)
