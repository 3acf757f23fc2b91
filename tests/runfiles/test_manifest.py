"""The run manifest (<out>/run.json): written by capture, kept on a second capture, read by report."""

import json
import time

import pytest
from transformers import GPT2Config

from profkit.cli import main
from profkit.errors import ProfkitError
from profkit.report.build import default_output
from profkit.report.runs import find_traces
from profkit.runfiles.manifest import SCHEMA, keep_previous, manifests_in, read_manifest
from profkit.runfiles.paths import is_manifest
from profkit.runfiles.paths import traces_in
from tests.helpers.runs import write_run


def test_manifest_round_trip(tmp_path):
    m = write_run(tmp_path, ["eager", "compiled"])
    back = read_manifest(tmp_path / "run.json")
    assert back == m and back.schema == SCHEMA
    assert [r.mode for r in back.modes] == ["eager", "compiled"]
    assert back.modes[0].noise == {"cv_pct": 1.0} and back.modes[0].timing["total_ms"] == 5.0
    assert json.loads((tmp_path / "run.json").read_text())["schema"] == SCHEMA
    # A manifest is not a trace: folders of traces and `analyze DIR` skip it.
    assert is_manifest(tmp_path / "run.json") and not is_manifest(tmp_path / "tiny-eager-b1-s8.meta.json")
    assert [p.name for p in traces_in(tmp_path)] == ["tiny-compiled-b1-s8.json.gz", "tiny-eager-b1-s8.json.gz"]


def test_report_inputs_manifest_folder_and_latest(tmp_path):
    write_run(tmp_path, ["eager", "compiled"])
    assert [p.name for p in find_traces([tmp_path / "run.json"])] == [
        "tiny-eager-b1-s8.json.gz", "tiny-compiled-b1-s8.json.gz"]
    assert default_output([tmp_path / "run.json"]).name == f"{tmp_path.name}.html"
    # A second run in the same folder: the folder stands for the latest, and says so.
    keep_previous(tmp_path, ["tiny-eager-b1-s8.json.gz"])
    write_run(tmp_path, ["eager"], created="2026-12-02T11:00:00+00:00")
    heard = []
    assert [p.name for p in find_traces([tmp_path], heard.append)] == ["tiny-eager-b1-s8.json.gz"]
    assert len(heard) == 1 and "holds 2 run manifests; rendering the latest, run.json" in heard[0]
    assert "run-20261202T100000Z.json" in heard[0]
    older = tmp_path / "run-20261202T100000Z.json"
    assert [p.name for p in find_traces([older])] == [
        "tiny-eager-b1-s8-20261202T100000Z.json.gz", "tiny-compiled-b1-s8.json.gz"]
    assert default_output([older]).name == f"{tmp_path.name}-run-20261202T100000Z.html"


def test_second_capture_keeps_the_older_run(tmp_path):
    write_run(tmp_path, ["eager", "compiled"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    notes = keep_previous(tmp_path, ["tiny-eager-b1-s8.json.gz", "tiny-cudagraph-b1-s8.json.gz"])
    assert notes == ["kept the earlier tiny-eager-b1-s8.json.gz as tiny-eager-b1-s8-20261202T100000Z.json.gz",
                     "kept the earlier run.json as run-20261202T100000Z.json"]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["run-20261202T100000Z.json", "tiny-compiled-b1-s8.json.gz", "tiny-compiled-b1-s8.meta.json",
                     "tiny-eager-b1-s8-20261202T100000Z.json.gz", "tiny-eager-b1-s8-20261202T100000Z.meta.json"]
    # Nothing lost: the same bytes under the new name; the kept manifest and sidecar point at it.
    assert (tmp_path / "tiny-eager-b1-s8-20261202T100000Z.json.gz").read_bytes() == before["tiny-eager-b1-s8.json.gz"]
    kept = read_manifest(tmp_path / "run-20261202T100000Z.json")
    assert [(m.trace, m.sidecar) for m in kept.modes] == [
        ("tiny-eager-b1-s8-20261202T100000Z.json.gz", "tiny-eager-b1-s8-20261202T100000Z.meta.json"),
        ("tiny-compiled-b1-s8.json.gz", "tiny-compiled-b1-s8.meta.json")]
    side = json.loads((tmp_path / "tiny-eager-b1-s8-20261202T100000Z.meta.json").read_text())
    assert side["trace"] == "tiny-eager-b1-s8-20261202T100000Z.json.gz"
    # A third capture in the same second does not overwrite the second's kept files.
    write_run(tmp_path, ["eager"])
    keep_previous(tmp_path, ["tiny-eager-b1-s8.json.gz"])
    assert (tmp_path / "run-20261202T100000Z-2.json").is_file()
    assert (tmp_path / "tiny-eager-b1-s8-20261202T100000Z-2.json.gz").is_file()
    assert len(manifests_in(tmp_path)) == 2


def test_analyze_points_from_a_manifest_to_its_traces(tmp_path, capsys):
    write_run(tmp_path, ["eager", "compiled"])
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(tmp_path / "run.json")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "is a run manifest, not a trace" in err
    assert "tiny-eager-b1-s8.json.gz, tiny-compiled-b1-s8.json.gz" in err and "profkit report" in err


def test_missing_paths_say_what_is_there(tmp_path):
    write_run(tmp_path / "traces", ["eager"])
    (tmp_path / "traces" / "run.json").unlink()
    with pytest.raises(ProfkitError) as e:
        find_traces([tmp_path / "traces" / "run.json"])
    msg = str(e.value)
    assert msg.startswith(f"no such trace file or folder: {tmp_path / 'traces' / 'run.json'}; ")
    assert "holds tiny-eager-b1-s8.json.gz, tiny-eager-b1-s8.meta.json" in msg
    assert f"profkit report {tmp_path / 'traces'}" in msg
    with pytest.raises(ProfkitError, match=r"nope does not exist; .* holds traces/"):
        find_traces([tmp_path / "nope" / "run.json"])
    write_run(tmp_path / "t2", ["eager"])
    (tmp_path / "t2" / "tiny-eager-b1-s8.json.gz").unlink()
    with pytest.raises(ProfkitError, match=r"run.json lists tiny-eager-b1-s8.json.gz, missing from"):
        find_traces([tmp_path / "t2" / "run.json"])


def test_capture_writes_the_manifest_and_report_renders_it(tmp_path, capsys, monkeypatch, calibrated):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "tiny"
    ckpt.mkdir()
    GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64).to_json_file(ckpt / "config.json")
    args = ["capture", "--model", str(ckpt), "--mode", "eager", "--device", "cpu", "--prompt-len", "8",
            "--new-tokens", "4", "--warmup", "0", "--steps", "1"]
    for _ in range(2):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 0
        time.sleep(1.1)  # distinct timestamps
    out = capsys.readouterr()
    assert "run.json  (the run manifest: profkit report traces/run.json)" in out.out
    assert "kept the earlier run.json as run-" in out.err
    traces = tmp_path / "traces"
    manifests = manifests_in(traces)
    assert [p.name for p, _ in manifests][0] == "run.json" and len(manifests) == 2
    m = manifests[0][1]
    assert m.command.startswith("profkit capture --model") and m.device["type"] == "cpu"
    assert [r.mode for r in m.modes] == ["eager"] and (traces / m.modes[0].trace).is_file()
    assert len(list(traces.glob("*.json.gz"))) == 2  # the first run's trace is kept
    with pytest.raises(SystemExit) as e:
        main(["report", "traces/run.json", "--no-hta", "-o", "r.html"])
    assert e.value.code == 0
    page = (tmp_path / "r.html").read_text()
    assert "Peaks of MUE and the roofline for tiny-eager-b1-s8: cpu (calibrated): 20.0 GB/s, 0.5 TFLOP/s" in page
    # The terminal view names the peaks and their origin too.
    with pytest.raises(SystemExit) as e:
        main(["analyze", f"traces/{m.modes[0].trace}"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "peaks: cpu (calibrated), 20.0 GB/s, 0.5 TFLOP/s (profkit calibrate" in out
