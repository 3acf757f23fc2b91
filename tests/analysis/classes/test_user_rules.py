"""User classification rules: `--rules FILE` end to end through analyze, report and
sweep, `profkit rules`, and one-line errors for bad files."""

import gzip
import json
import subprocess
import sys

import pytest

from profkit.analysis.classes.classify import UserRule
from profkit.analysis.options import AnalysisOptions
from profkit.analysis.classes.user_rules import load_rules, rule_table
from profkit.errors import ProfkitError

RULES = """
# our expert-parallel exchange kernel
[[rule]]
pattern = "mystery_exchange"
class = "communication"
why = "our all-to-all"

[[rule]]
pattern = "^frobnicate$"
class = "elementwise"
target = "op"
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "profkit", *args], capture_output=True, text=True)


def ev(cat, name, ts, dur, **args):
    return {"ph": "X", "cat": cat, "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur, "args": args}


@pytest.fixture
def trace(tmp_path):
    """Three kernels no built-in rule, name word or op knows (and one launched by aten::frobnicate)."""
    events = [
        ev("cpu_op", "aten::frobnicate", 0, 10, **{"External id": 1}),
        ev("cuda_runtime", "cudaLaunchKernel", 1, 2, correlation=11, **{"External id": 1}),
        ev("kernel", "void lib::mystery_exchange<8>(int*)", 100, 30, correlation=21, stream=7, device=0),
        ev("kernel", "void lib::k7<8>(int*)", 140, 10, correlation=11, stream=7, device=0),
        ev("kernel", "void lib::k9<8>(int*)", 160, 5, correlation=22, stream=7, device=0),
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"traceEvents": events}))
    return path


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return path


def test_load_rules_keeps_order_and_fields(rules_file):
    rules = load_rules(rules_file)
    assert rules == (UserRule("mystery_exchange", "communication", "our all-to-all", "kernel"),
                     UserRule("^frobnicate$", "elementwise", "user rule from rules.toml", "op"))
    table = rule_table(rules)
    assert [r["layer"] for r in table[:2]] == ["user", "user"]
    assert {r["layer"] for r in table[2:]} == {"rule", "token"}


def test_analyze_with_and_without_rules(trace, rules_file):
    plain = json.loads(run("analyze", str(trace), "--json").stdout)
    assert plain["classes"]["other"]["time_us"] == 45
    assert [u["name"] for u in plain["coverage"]["unclassified"]] == [
        "void lib::mystery_exchange<8>(int*)", "void lib::k7<8>(int*)", "void lib::k9<8>(int*)"]
    r = run("analyze", str(trace), "--json", "--rules", str(rules_file))
    assert r.returncode == 0, r.stderr
    ruled = json.loads(r.stdout)
    assert ruled["classes"]["communication"]["time_us"] == 30
    assert ruled["classes"]["elementwise"]["time_us"] == 10
    by = {k["name"]: k["classified_by"] for k in ruled["kernels"]}
    assert by == {"void lib::mystery_exchange<8>(int*)": "rule", "void lib::k7<8>(int*)": "op",
                  "void lib::k9<8>(int*)": "none"}
    assert ruled["coverage"]["classified_by"]["none"] == {"count": 1, "time_us": 5.0, "pct": 100 * 5 / 45}
    text = run("analyze", str(trace), "--rules", str(rules_file)).stdout
    assert "Unclassified kernels" in text and "lib::k9" in text


def test_report_honours_rules(trace, rules_file, tmp_path):
    out = tmp_path / "r.html"
    r = run("report", str(trace), "-o", str(out), "--no-hta", "--rules", str(rules_file))
    assert r.returncode == 0, r.stderr
    annotated = tmp_path / "r_traces" / "t.json.gz"
    events = json.loads(gzip.decompress(annotated.read_bytes()))["traceEvents"]
    labels = {e["name"]: e["args"].get("profkit class") for e in events if e.get("cat") == "kernel"}
    assert labels["void lib::mystery_exchange<8>(int*)"] == "communication"
    assert labels["void lib::k7<8>(int*)"] == "elementwise"


def test_sweep_profile_summary_honours_rules(trace, rules_file):
    from profkit.sweep.run import _profile_summary

    row = _profile_summary(trace, None, AnalysisOptions(rules=load_rules(rules_file)))
    assert row["pct_communication"] == pytest.approx(100 * 30 / 45)
    assert "--rules" in run("sweep", "--help").stdout


def test_rules_command(rules_file):
    r = run("rules", "--json", "--rules", str(rules_file))
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    assert table[0]["pattern"] == "mystery_exchange" and table[0]["layer"] == "user"
    assert "nccl|rccl|msccl" in run("rules").stdout


@pytest.mark.parametrize("text, message", [
    ("[[rule]\npattern = 'x'", "not valid TOML"),
    ("[[rule]]\npattern = 'a(b'\nclass = 'memory'", "bad regex"),
    ("[[rule]]\npattern = 'x'\nclass = 'gemm'", "is not one of"),
    ("[[rule]]\npattern = 'x'\nclass = 'memory'\ntarget = 'stream'", "not kernel or op"),
    ("[[rule]]\nclass = 'memory'", "'pattern' must be"),
    ("[[rule]]\npattern = 'x'\nclass = 'memory'\ncolour = 'red'", "unknown key"),
    ("rule = 3", "array of tables"),
    ("[rules]\nx = 1", "unknown top-level"),
])
def test_bad_rules_files_are_one_line_errors(tmp_path, trace, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfkitError, match=message):
        load_rules(path)
    r = run("analyze", str(trace), "--rules", str(path))
    assert r.returncode == 2 and message in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_missing_rules_file_exits_2(tmp_path, trace):
    r = run("rules", "--rules", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "no such rules file" in r.stderr


def test_report_lists_unclassified_kernels_and_the_layer(trace, rules_file, tmp_path):
    from profkit.report.build import build_report

    html = build_report([trace], tmp_path / "plain.html", hta=False).read_text()
    assert "kernels no rule, name word or launching op classified" in html
    assert 'title="void lib::k9&lt;8&gt;(int*)"' in html and 'title="classified by none"' in html
    ruled = build_report([trace], tmp_path / "ruled.html", hta=False,
                         options=AnalysisOptions(rules=load_rules(rules_file))).read_text()
    assert 'title="classified by rule"' in ruled and 'title="classified by op"' in ruled
