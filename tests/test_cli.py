import subprocess
import sys

from profkit import __version__


def run(*args):
    return subprocess.run([sys.executable, "-m", "profkit", *args], capture_output=True, text=True)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert __version__ in r.stdout


def test_unknown_command_is_usage_error():
    r = run("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
