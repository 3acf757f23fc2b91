"""profkit sweep: grid checks, resume after Ctrl-C / SIGKILL, OOM handling, SDPA on CPU (tiny models)."""

import csv
import signal
import subprocess
import sys
import time

import pytest
import torch

import profkit.sweep.run as sweep_run
from profkit.errors import OutOfMemory, ProfkitError
from profkit.sweep import store
from profkit.sweep.grid import make_plan, parse_ints
from profkit.sweep.run import run_sweep
from tests.helpers import REPO
from tests.helpers.cli import main_exit
from tests.helpers.models import tiny_gpt2_config

FAST = {"device": "cpu", "warmup": 0, "steps": 1}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    tiny_gpt2_config(n_layer=1, n_head=4, n_embd=16, vocab_size=53, initializer_range=0.02).to_json_file(path)
    return str(path)


def csv_rows(folder):
    with open(folder / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def refuse(capsys, *args):
    code = main_exit("sweep", *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("profkit: error: "), err
    return err[0]


@pytest.mark.parametrize("args, words", [
    (["--batch", "1,0"], "--batch must be at least 1 (got 0)"),
    (["--prompt-len", "1000", "--new-tokens", "32"], "1032 exceeds the model's 1024 positions"),
    (["--kv-groups", "1,5"], "--kv-groups 5 does not divide gpt2's 12 attention heads"),
    (["--model", "gpt2,gpt3"], "unknown model 'gpt3'"),
    (["--mode", "eager,cudagraph"], "CUDA graphs need a CUDA device"),
    (["--batch", "1,x"], "--batch expects whole numbers"),
    (["--rows", "400"], "--rows does not apply to --workload gpt2"),
    (["--workload", "sdpa", "--prompt-len", "64", "--profile"], "--prompt-len, --profile do not apply"),
    (["--workload", "sdpa", "--rows", "0"], "--rows must be at least 1"),
    (["--workload", "sdpa", "--mode", "cudagraph"], "runs modes eager and compiled"),
])
def test_invalid_grids_are_refused_before_anything_runs(capsys, tmp_path, args, words):
    out = tmp_path / "runs" / "bad"
    line = refuse(capsys, "--device", "cpu", "--out", str(out), *args)
    assert words in line
    assert not out.exists()  # nothing created, nothing run


def test_grid_is_the_cartesian_product_in_batch_order(tiny):
    plan = make_plan("gpt2", models=f"{tiny},gpt2", modes="eager,compiled", batches="4,1,2,4",
                     prompt_lens="8,16", kv_groups="1,2", new_tokens=4, **FAST)
    assert len(plan.points) == 2 * 2 * 2 * 2 * 3
    assert plan.axes["batch"] == [1, 2, 4] and parse_ints(" 3, 1,3", "--x") == [1, 3]
    assert len({p.key for p in plan.points}) == len(plan.points)
    # Within a family, batches come smallest first (an OOM then skips the larger ones).
    fams = {}
    for p in plan.points:
        fams.setdefault(p.family, []).append(p.batch)
    assert all(b == [1, 2, 4] for b in fams.values()) and len(fams) == 16


def test_oom_is_recorded_and_larger_batches_skipped(tiny, tmp_path, monkeypatch):
    real, calls = sweep_run.capture_run, []

    def capture(cfg, *args, **kw):
        calls.append((cfg.batch, cfg.prompt_len))
        if cfg.batch >= 4:
            raise OutOfMemory(f"out of memory at batch {cfg.batch}")
        return real(cfg, *args, **kw)

    monkeypatch.setattr(sweep_run, "capture_run", capture)
    plan = make_plan("gpt2", models=tiny, batches="1,4,8,16", prompt_lens="8,16", new_tokens=2, **FAST)
    out = tmp_path / "oom"
    run_sweep(plan, out)
    rows = {(int(r["batch"]), int(r["prompt_len"])): r for r in csv_rows(out)}
    assert len(rows) == 8
    for s in (8, 16):
        assert rows[1, s]["status"] == "ok" and float(rows[1, s]["ttft_ms"]) > 0
        assert rows[4, s]["status"] == "oom" and "batch 4" in rows[4, s]["note"]
        assert rows[8, s]["status"] == rows[16, s]["status"] == "skipped"
        assert "batch 4 already ran out of memory" in rows[16, s]["note"]
    assert sorted(calls) == [(1, 8), (1, 16), (4, 8), (4, 16)]  # 8 and 16 never ran
    calls.clear()
    run_sweep(plan, out)  # resume: everything is final
    assert calls == [] and len(csv_rows(out)) == 8


def test_error_points_are_retried_and_not_duplicated(tiny, tmp_path, monkeypatch):
    real = sweep_run.capture_run

    def flaky(cfg, *args, **kw):
        if cfg.batch == 2:
            raise ProfkitError("torch.compile failed: no compiler")
        return real(cfg, *args, **kw)

    plan = make_plan("gpt2", models=tiny, batches="1,2,3", prompt_lens="8", new_tokens=2, **FAST)
    out = tmp_path / "err"
    monkeypatch.setattr(sweep_run, "capture_run", flaky)
    run_sweep(plan, out)
    assert [r["status"] for r in csv_rows(out)] == ["ok", "error", "ok"]
    monkeypatch.setattr(sweep_run, "capture_run", real)
    run_sweep(plan, out)
    rows = csv_rows(out)
    assert sorted(r["point"] for r in rows) == sorted(p.key for p in plan.points)
    assert all(r["status"] == "ok" for r in rows)


def test_point_the_process_died_in_twice_is_recorded_as_killed(tiny, tmp_path):
    plan = make_plan("gpt2", models=tiny, batches="1,2,4", prompt_lens="8", new_tokens=2, **FAST)
    out = tmp_path / "killed"
    out.mkdir()
    store.mark_running(out, plan.points[1].key, deaths=1)  # as a second SIGKILL would leave it
    run_sweep(plan, out)
    status = [r["status"] for r in csv_rows(out)]
    assert status == ["ok", "killed", "skipped"] and not (out / ".running").exists()


def test_torn_last_line_is_dropped_and_a_different_grid_refused(tiny, tmp_path):
    plan = make_plan("gpt2", models=tiny, batches="1,2", prompt_lens="8", new_tokens=2, **FAST)
    out = tmp_path / "torn"
    run_sweep(plan, out)
    first = csv_rows(out)
    with open(out / "results.csv", "a") as f:  # what a power cut mid-write could leave
        f.write(f"{first[0]['point']},ok,eager,1,tin")
    rows, dropped = store.read_rows(out, store.COLUMNS["gpt2"])
    assert dropped == 1 and len(rows) == 2
    run_sweep(plan, out)
    assert csv_rows(out) == first  # repaired, nothing re-run
    other = make_plan("gpt2", models=tiny, batches="1,4", prompt_lens="8", new_tokens=2, **FAST)
    with pytest.raises(ProfkitError, match=r"holds a different sweep \(axes batch: \[1, 2\] there, \[1, 4\] now\)"):
        run_sweep(other, out)
    slower = make_plan("gpt2", models=tiny, batches="1,2", prompt_lens="8", new_tokens=2, device="cpu", steps=2)
    with pytest.raises(ProfkitError, match="settings steps: 1 there, 2 now"):
        run_sweep(slower, out)


def test_second_sweep_in_the_same_folder_is_refused(tiny, tmp_path):
    plan = make_plan("gpt2", models=tiny, batches="1", prompt_lens="8", new_tokens=2, **FAST)
    out = tmp_path / "locked"
    out.mkdir()
    with store.sweep_lock(out):
        with pytest.raises(ProfkitError, match="another profkit sweep is running"):
            run_sweep(plan, out)


SWEEP = ["--batch", "1,2,3,4,5,6", "--prompt-len", "4,8,12,16,20", "--new-tokens", "3",
         "--device", "cpu", "--warmup", "0", "--steps", "1"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_sweep_resumes_without_losing_or_duplicating_rows(tiny, tmp_path, sig):
    # SIGTERM (kill, a scheduler) interrupts as Ctrl-C does: no death is counted for the point in progress.
    out = tmp_path / "runs" / "resume"
    args = ["sweep", "--model", tiny, "--out", str(out), *SWEEP]
    ready = tmp_path / "two-rows-written"
    # The sweep holds still after its second row (tests/helpers/held_sweep.py): the signal lands between
    # two points however busy the machine is.
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.held_sweep", str(ready), "2", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 600
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep stopped before its second row"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    before = csv_rows(out)
    assert len(before) == 2
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert proc.returncode == 130 and "run the same command to resume" in err
        assert not (out / ".running").exists()
    else:
        assert proc.returncode == -signal.SIGKILL
    done = subprocess.run([sys.executable, "-m", "profkit", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(before)} of 30 points already done" in done.stderr
    after = csv_rows(out)
    assert len(after) == 30 and len({r["point"] for r in after}) == 30
    assert after[:len(before)] == before  # earlier rows untouched, byte for byte the same values
    assert all(r["status"] == "ok" and float(r["total_ms"]) > 0 for r in after)
    assert store.read_manifest(out)["complete"] is True


def test_sdpa_workload_on_cpu(tmp_path, capsys):
    out = tmp_path / "sdpa"
    assert main_exit("sweep", "--workload", "sdpa", "--batch", "2,4", "--rows", "16,64", "--cols", "8",
                     "--device", "cpu", "--warmup", "1", "--steps", "3", "--out", out) == 0
    rows = csv_rows(out)
    assert [(int(r["batch"]), int(r["rows"])) for r in rows] == [(2, 16), (4, 16), (2, 64), (4, 64)]
    for r in rows:
        assert r["status"] == "ok" and r["h2d_ms"] == ""  # no host-to-device copy on a CPU
        ms = float(r["attention_ms"])
        assert ms > 0 and float(r["input_ms"]) > 0 and float(r["peak_memory_mib"]) > 10
        flops = 4 * int(r["batch"]) * int(r["rows"]) ** 2 * int(r["cols"])
        assert float(r["gflops_per_s"]) == pytest.approx(flops / (ms * 1e-3) / 1e9, rel=1e-4)
        # Noise per point: the median lies in [min, max]; the verdict follows the rule.
        assert float(r["min_ms"]) - 1e-3 <= ms <= float(r["max_ms"]) + 1e-3
        assert r["noise"] in ("quiet", "noisy") and float(r["cv_pct"]) >= 0
        if float(r["cv_pct"]) > 5:
            assert r["noise"] == "noisy"
    assert "attn ms" in capsys.readouterr().out


def test_sdpa_compiled_mode_runs_on_cpu():
    from profkit.capture.sdpa import sdpa_run

    r = sdpa_run("compiled", torch.device("cpu"), 2, 32, 8, warmup=1, steps=2)
    assert r["attention_ms"] > 0 and len(r["samples_ms"]) == 2 and r["h2d_ms"] is None
