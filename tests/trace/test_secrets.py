"""Credential-like metadata: analyze warns, every copy profkit writes masks it, --keep-secrets keeps it.

The trace is a shared H100 trace with the access token its publisher leaked put back (a fake
one, of the real format) where it was: metadata.system.env.HF_TOKEN.
"""

import gzip
import json

import pytest

from profkit.report.annotate import annotate
from profkit.report.build import build_report, traces_dir
from profkit.report.opener import stage
from profkit.trace import secrets
from tests.helpers.cli import profkit_cli
from tests.helpers.traces import real_trace

SOURCE = "kineto-h100-bert-small-hf-eager-infer.json.gz"
TOKEN = "hf_" + "Ab3" * 12


def _doc(path):
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture
def leaky(tmp_path):
    doc = _doc(real_trace(SOURCE))
    assert doc["metadata"]["system"]["env"]["HF_TOKEN"] == "REDACTED"
    doc["metadata"]["system"]["env"]["HF_TOKEN"] = TOKEN
    path = tmp_path / "leaky.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return path


def test_the_shared_trace_as_redacted_has_nothing_to_mask(tmp_path):
    src = real_trace(SOURCE)
    meta = {k: v for k, v in _doc(src).items() if k != "traceEvents"}
    assert secrets.find(meta) == []
    assert "credential" not in profkit_cli("analyze", src, "--no-cache").stdout
    counts = annotate(src, tmp_path / "copy.json.gz")
    copy = _doc(tmp_path / "copy.json.gz")
    assert counts["masked"] == [] and copy["metadata"] == meta["metadata"]
    assert copy["metadata"]["system"]["env"]["TOKENIZERS_PARALLELISM"] == meta["metadata"]["system"]["env"][
        "TOKENIZERS_PARALLELISM"]


def test_analyze_warns_and_annotate_masks(leaky, tmp_path):
    r = profkit_cli("analyze", leaky, "--json", "--no-cache")
    assert r.returncode == 0
    (warning,) = [w for w in json.loads(r.stdout)["warnings"] if "credential" in w]
    assert "1 credential-like value (metadata.system.env.HF_TOKEN)" in warning and TOKEN not in r.stdout
    out = tmp_path / "a.json.gz"
    r = profkit_cli("annotate", leaky, "-o", out)
    assert r.returncode == 0 and "masked 1 credential-like" in r.stderr
    copy = _doc(out)
    assert copy["metadata"]["system"]["env"]["HF_TOKEN"] == secrets.MASK
    assert TOKEN.encode() not in gzip.decompress(out.read_bytes())
    assert len(copy["traceEvents"]) > len(_doc(leaky)["traceEvents"])  # the events and profkit's tracks
    kept = tmp_path / "kept.json.gz"
    assert profkit_cli("annotate", leaky, "-o", kept, "--keep-secrets").returncode == 0
    assert _doc(kept)["metadata"]["system"]["env"]["HF_TOKEN"] == TOKEN


def test_report_and_open_copies_are_masked(leaky, tmp_path):
    page = build_report([leaky], tmp_path / "r.html", hta=False)
    (copy,) = traces_dir(page).iterdir()
    assert TOKEN.encode() not in gzip.decompress(copy.read_bytes()) and TOKEN not in page.read_text()
    staged = stage([leaky], tmp_path / "open")
    for name in (staged[0]["original"], staged[0]["annotated"]):
        assert TOKEN.encode() not in gzip.decompress((tmp_path / "open" / name).read_bytes())
    assert len(_doc(tmp_path / "open" / staged[0]["original"])["traceEvents"]) == len(_doc(leaky)["traceEvents"])


def test_keys_and_values_that_are_credentials():
    env = {"HF_TOKEN": "x1", "GITHUB-TOKEN": "x2", "db_password": "x3", "AWS_SECRET_ACCESS_KEY": "x4",
           "openai_api_key": "x5", "TOKENIZERS_PARALLELISM": "false", "max_tokens": 8, "PWD": "/home/u",
           "use_auth_token": True, "EMPTY_TOKEN": "", "NOTE": "push with ghp_" + "a" * 36}
    found = secrets.find({"metadata": {"env": env}})
    assert found == [f"metadata.env.{k}" for k in ("HF_TOKEN", "GITHUB-TOKEN", "db_password",
                                                     "AWS_SECRET_ACCESS_KEY", "openai_api_key", "NOTE")]
    masked, _ = secrets.masked({"metadata": {"env": env}})
    assert masked["metadata"]["env"]["NOTE"] == f"push with {secrets.MASK}"
    assert masked["metadata"]["env"]["PWD"] == "/home/u" and masked["metadata"]["env"]["max_tokens"] == 8
