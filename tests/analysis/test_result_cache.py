"""Re-analysis from the cache (profkit.analysis.result_cache): identical output, never stale."""

import os
import shutil
import subprocess
import sys

import pytest

from profkit.analysis import result_cache as memo
from profkit.analysis.options import AnalysisOptions
from profkit.analysis.result import encode
from profkit.analysis.analyze import summarize
from profkit.trace import cache, load
from profkit.runfiles.paths import sidecar_path
from tests.helpers.cli import profkit_cli
from tests.helpers.models import write_calibration
from tests.helpers.traces import real_trace

BERT = "kineto-h100-bert-small-hf-eager-infer.json.gz"
OWL = "kineto-h100-owlv2-large-hf-eager-infer.json.gz"  # over cache.MIN_BYTES, so a plain CLI run keeps it


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """An empty cache that keeps small files, and a copy of a real trace to change."""
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = tmp_path / BERT
    shutil.copy(real_trace(BERT), path)
    return path


def test_a_kept_result_is_the_computed_one(kept):
    options = AnalysisOptions()
    first = memo.summary_json(kept, options)
    assert first == encode(summarize(load(kept, cache=False), options=options))
    entry = memo.entry(kept, options)
    assert entry.is_file() and entry.read_bytes() == first
    entry.write_bytes(first.replace(b'"schema_version": 2', b'"schema_version": 2 '))  # a marker: served as is
    assert memo.summary_json(kept, options) == entry.read_bytes()
    assert encode(memo.summary(kept, options)) == first  # the typed model, decoded from the same JSON


def test_every_input_of_the_result_is_in_its_key(kept, tmp_path, user_cache):
    options = AnalysisOptions()
    base = memo.entry(kept, options)
    assert memo.entry(kept, AnalysisOptions(window="steps")) != base
    assert memo.entry(kept, AnalysisOptions(peak_bw=1000.0)) != base
    assert memo.entry(kept, AnalysisOptions(whatif_against=kept)) != base
    assert memo.entry(tmp_path / ".." / tmp_path.name / BERT, options) != base  # the path is in the output
    sidecar_path(kept).write_text("{}")
    with_sidecar = memo.entry(kept, options)
    assert with_sidecar != base
    sidecar_path(kept).unlink()
    write_calibration(user_cache / "calibration.json")  # CPU peaks can come from it
    assert memo.entry(kept, options) not in (base, with_sidecar)
    st = os.stat(kept)
    os.utime(kept, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    touched = memo.entry(kept, options)
    data = bytearray(kept.read_bytes())
    data[-10] ^= 1  # same size, same mtime, other content
    kept.write_bytes(bytes(data))
    os.utime(kept, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert memo.entry(kept, options) != touched


def test_editing_profkit_is_a_miss(kept, monkeypatch):
    options = AnalysisOptions()
    before = memo.entry(kept, options)
    real = memo._code()
    monkeypatch.setattr(memo, "_code", lambda: [*real, "edited"])
    assert memo.entry(kept, options) != before


def test_libraries_are_in_the_key_without_importing_them(tmp_path, monkeypatch):
    import numpy

    origin, size, mtime = memo._installed("numpy")
    assert origin == numpy.__file__ and size == os.stat(origin).st_size and mtime == os.stat(origin).st_mtime_ns
    assert memo._installed("no_such_library_here") is None
    fake = tmp_path / "__init__.py"
    fake.write_text("")
    before = memo._code()
    monkeypatch.setattr(memo, "find_spec", lambda lib: type("Spec", (), {"origin": str(fake)}))
    assert memo._code() != before  # another install (an upgrade rewrites the entry module) is a miss


def test_damaged_result_is_discarded_with_a_warning(kept):
    options = AnalysisOptions()
    want = memo.summary_json(kept, options)
    entry = memo.entry(kept, options)
    entry.write_bytes(want[:100])
    with pytest.warns(cache.CacheWarning, match="discarding unreadable result"):
        assert memo.summary_json(kept, options) == want
    assert entry.read_bytes() == want  # rewritten


def test_no_cache_keeps_nothing(kept, monkeypatch):
    monkeypatch.setenv("PROFKIT_NO_CACHE", "1")
    assert memo.entry(kept, AnalysisOptions()) is None
    memo.summary_json(kept, AnalysisOptions())
    assert cache.entries() == []


def test_reanalysis_from_the_cli(tmp_path):
    """What a user sees: the same output, answered without the trace's columns; info and clear count both."""
    env = {"PROFKIT_CACHE_DIR": str(tmp_path / "cache")}
    path = real_trace(OWL)

    def cli(*args):
        r = profkit_cli(*args, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    cold = cli("analyze", "--json", "--no-cache", path)
    assert "0 cached traces and 0 analysis results" in cli("cache", "info")
    assert cli("analyze", "--json", path) == cold
    assert "1 cached trace and 1 analysis result," in cli("cache", "info")
    for npz in cache.entries(tmp_path / "cache"):
        if npz.suffix == ".npz":
            npz.unlink()  # a hit needs only the result; a miss would load the trace and write its columns again
    assert cli("analyze", "--json", path) == cold
    assert cli("analyze", path) == cli("analyze", "--no-cache", path)  # the terminal view reads the same result
    assert [p.suffix for p in cache.entries(tmp_path / "cache")] == [".json"]
    # A hit reads the result back without pandas or the analysis, in both views.
    for args in (["analyze", "--json", str(path)], ["analyze", str(path)]):
        code = (f"import sys\nfrom profkit.cli import main\ntry:\n    main({args!r})\nfinally:\n"
                "    print('pandas' in sys.modules)")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, **env})
        assert r.returncode == 0 and r.stdout.rstrip().endswith("False"), r.stderr
    assert "removed 1 cache file" in cli("cache", "clear")
    assert cache.entries(tmp_path / "cache") == []
