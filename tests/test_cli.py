import os
import subprocess
import sys

from profkit import __version__
from tests.helpers.cli import profkit_cli


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
