import gzip
import os
import subprocess
import sys

import pytest

from profkit import __version__
from tests.helpers.cli import profkit_cli
from tests.helpers.traces import real_trace


def test_version():
    r = profkit_cli("--version")
    assert r.returncode == 0
    assert __version__ in r.stdout


def test_unknown_command_is_usage_error():
    r = profkit_cli("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_internal_errors_are_one_line_unless_debugging(tmp_path):
    # Simulate a bug: summarize raises something that is not a ProfkitError.
    script = ("import profkit.analysis.summarize as s\n"
              "def boom(*a, **k): raise KeyError('x')\n"
              "s.summary_of = boom\n"
              "from profkit.cli import main\n"
              "main(['analyze', %r])\n")
    trace = tmp_path / "t.json"
    trace.write_text('{"traceEvents": []}')
    r = subprocess.run([sys.executable, "-c", script % str(trace)], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("profkit: internal error: KeyError") and "Traceback" not in r.stderr
    env = {**os.environ, "PROFKIT_DEBUG": "1"}
    r = subprocess.run([sys.executable, "-c", script % str(trace)], capture_output=True, text=True, env=env)
    assert "Traceback" in r.stderr


def test_version_has_a_short_flag():
    r = profkit_cli("-V")
    assert r.returncode == 0 and r.stdout.startswith("profkit, version ")


@pytest.mark.shared
def test_warnings_go_to_stderr_and_the_analysis_to_stdout(tmp_path):
    text = gzip.decompress(real_trace("kineto-rtx5080-mlp-train-eager.json.gz").read_bytes())
    at = text.index(b'"name": "', len(text) // 2) + 9
    path = tmp_path / "t.json"
    path.write_bytes(text[:at] + b"\\ud800" + text[at:])  # a lone surrogate: repaired, with a warning
    r = profkit_cli("analyze", "--no-cache", path)
    assert r.returncode == 0
    assert "lone surrogate" in r.stderr and "lone surrogate" not in r.stdout
    assert "Time by class" in r.stdout


def test_shell_completion_is_click_s():
    r = subprocess.run([sys.executable, "-m", "profkit"], capture_output=True, text=True,
                       env={**os.environ, "_PROFKIT_COMPLETE": "bash_source"})
    assert "_profkit_completion" in r.stdout
