"""The core install (`pip install profkit`) works without torch or transformers.

Every command runs in a subprocess where `import torch` and `import transformers`
fail, as they do in a venv built with the core install only. CI also runs this
file inside such a venv (.ci/run), where torch is really absent.
"""

import subprocess
import sys

import pytest

from tests.helpers.traces import real_trace

# sys.modules[name] = None makes `import name` raise ImportError, as in a torch-free venv.
NO_TORCH = ("import sys; sys.modules['torch'] = sys.modules['transformers'] = None; "
            "from profkit.cli import main; main(sys.argv[1:])")
INSTALL = "pip install 'profkit[capture]'"


def profkit_without_torch(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("args", [["capture", "--model", "gpt2", "--mode", "eager"],
                                  ["sweep", "--out", "runs/x"], ["calibrate"]])
def test_model_commands_name_the_install_line(args, tmp_path):
    r = profkit_without_torch(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert INSTALL in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_analyze_report_and_annotate_need_no_torch(tmp_path):
    trace = real_trace("kineto-h100-transformer-train-tiny.json.gz")
    r = profkit_without_torch("analyze", trace, "--json")
    assert r.returncode == 0, r.stderr
    assert '"busy_us"' in r.stdout
    out = tmp_path / "r.html"
    r = profkit_without_torch("report", trace, "-o", out, "--no-hta")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 100_000
    r = profkit_without_torch("annotate", trace, "-o", tmp_path / "a.json.gz")
    assert r.returncode == 0, r.stderr


def test_the_core_modules_import_no_torch():
    code = ("import sys; sys.modules['torch'] = sys.modules['transformers'] = None\n"
            "import profkit.cli, profkit.analysis.summarize, profkit.report.build, profkit.report.sweep, "
            "profkit.report.serve, profkit.capture\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
