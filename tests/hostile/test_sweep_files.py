"""A sweep folder others have touched: rows profkit did not write are run again, and a folder that
stops taking writes ends the sweep with one line (exit 2), resumable by the same command."""

import csv
import errno
import os


from profkit.sweep import store
from tests.helpers.cli import main_exit

SDPA = ["sweep", "--workload", "sdpa", "--batch", "2,4", "--rows", "16", "--cols", "8", "--device", "cpu",
        "--warmup", "1", "--steps", "2"]


def _rows(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_row_with_a_batch_profkit_never_writes_is_run_again(tmp_path):
    out = tmp_path / "sweep"
    assert main_exit(*SDPA, "--out", out) == 0
    text = (out / "results.csv").read_text().splitlines()
    fields = next(csv.reader([text[2]]))
    fields[fields.index("4")] = "four"  # the batch column of the second point
    text[2] = ",".join(fields)
    (out / "results.csv").write_text("\n".join(text) + "\n")
    assert main_exit(*SDPA, "--out", out) == 0
    rows = _rows(out)
    assert sorted(int(r["batch"]) for r in rows) == [2, 4] and all(r["status"] == "ok" for r in rows)


def test_a_folder_that_stops_taking_writes_ends_the_sweep_in_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep"
    real_open = os.open

    def refuse(path, flags, *args):  # (as root, a chmod would not stop this process: refuse the append here)
        if str(path).endswith(store.RESULTS) and flags & os.O_APPEND:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)
    monkeypatch.setattr(store.os, "open", refuse)
    assert main_exit(*SDPA, "--out", out) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("profkit")]
    assert any("cannot write" in line and "resumes it" in line for line in lines), err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert main_exit(*SDPA, "--out", out) == 0  # the same command resumes: every point runs, none counted dead
    assert [r["status"] for r in _rows(out)] == ["ok", "ok"]
