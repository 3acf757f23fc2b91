"""The command line as the tests run it: in a subprocess as a user does, or in this process."""

import os
import subprocess
import sys

import pytest


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


def capture(*args):
    """`profkit capture ARGS` in a subprocess, which must succeed without a traceback: the CompletedProcess."""
    r = profkit_cli("capture", *args)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r
