"""Multi-rank jobs: per-rank summaries, alignment, stragglers, processes and Dask; tiled traces."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import profkit
from profkit.analysis import ranks
from profkit.analysis.options import AnalysisOptions
from profkit.analysis.result import encode
from profkit.analysis.analyze import summarize
from profkit.errors import ProfkitError
from profkit.runfiles.paths import traces_in
from tests.helpers import REPO
from tests.helpers.cli import profkit_cli
from tests.helpers.intervals import events, intersect, length, merge
from tests.helpers.traces import DLRM, raw_events, real_trace



@pytest.fixture(scope="module")
def serial(dlrm_dir):
    return ranks.job(ranks.run(traces_in(dlrm_dir)), dlrm_dir)


def dump(job):
    return encode(job)


def test_every_rank_is_summarised(serial):
    assert [s.rank for s in serial.ranks] == list(range(8))
    assert serial.world_size == 8
    for s in serial.ranks:
        assert s.classes["communication"].count == 8  # 8 NCCL kernels per rank (SOURCES-2.md)


def test_late_ranks_match_the_raw_step_starts(serial, dlrm_dir):
    """Recompute step starts from the raw JSON: the latest starters are the named stragglers."""
    starts, ends = {}, {}
    for i, name in enumerate(DLRM):
        events = raw_events(dlrm_dir / name)
        step = next(e for e in events if e.get("name") == "ProfilerStep#10" and e.get("cat") == "user_annotation")
        starts[i], ends[i] = step["ts"], step["ts"] + step["dur"]
    median_end = sorted(ends.values())[3:5]
    aligned = {r: starts[r] - (ends[r] - sum(median_end) / 2) for r in starts}
    late = {s.rank for s in serial.stragglers.ranks if s.rule == "late_start"}
    latest = sorted(aligned, key=aligned.get)[-3:]
    assert set(latest) <= late
    assert 7 in late  # the rank with the least NCCL time: everyone waits for it
    comm = {s.rank: s.classes["communication"].time_us for s in serial.ranks}
    assert min(comm, key=comm.get) == 7
    assert all(s.why for s in serial.stragglers.ranks)
    assert serial.alignment.step == 10


def test_processes_and_dask_give_the_serial_result(serial, dlrm_dir):
    paths = traces_in(dlrm_dir)
    assert dump(ranks.job(ranks.run(paths, AnalysisOptions(jobs=2)), dlrm_dir)) == dump(serial)
    pytest.importorskip("dask.distributed")
    assert dump(ranks.job(ranks.run(paths, AnalysisOptions(dask=True)), dlrm_dir)) == dump(serial)


def test_cli_folder_json(dlrm_dir):
    r = profkit_cli("analyze", dlrm_dir, "--json", "-j", "2")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert len(job["ranks"]) == 8 and "stragglers" in job and job["ranks"][3]["rank"] == 3


def test_two_rank_sample_pair(tmp_path):
    for name in ("sampled_rank-0.json.gz", "sampled_rank-1.json.gz"):
        (tmp_path / name).symlink_to(real_trace(f"hta/trace_filter/{name}"))
    job = ranks.job(ranks.run(traces_in(tmp_path)), tmp_path)
    assert [s.rank for s in job.ranks] == [0, 1] and job.world_size == 128
    assert job.alignment.step == 552


def test_bad_folders(tmp_path):
    with pytest.raises(ProfkitError, match="no .json"):
        traces_in(tmp_path)
    src = real_trace("kineto-v100x8-dlrm-train-rank0.json.gz")
    for name in ("a.json.gz", "b.json.gz"):
        (tmp_path / name).symlink_to(src)
    r = profkit_cli("analyze", tmp_path)
    assert r.returncode == 2 and "same rank" in r.stderr and "Traceback" not in r.stderr


def test_tiled_trace_scales_exactly(tmp_path):
    """benchmarks/make_big_trace.py: N copies -> N x the activity, same class shares."""
    src = real_trace("kineto-h100-bert-small-hf-eager-infer.json.gz")
    out = tmp_path / "tiled.json.gz"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_big_trace.py"), str(src), "--size-mb", "4",
                    "-o", str(out)], check=True, capture_output=True)
    one, many = profkit.load(src), profkit.load(out)
    copies = len(many.gpu) // len(one.gpu)
    assert copies >= 3 and len(many.gpu) == copies * len(one.gpu)
    assert many.gpu_ops()["op_name"].isna().sum() == 0  # ids renumbered: every kernel finds its op
    a, b = summarize(one), summarize(many)
    for cls, c in a.classes.items():
        assert b.classes[cls].pct == pytest.approx(c.pct)
        assert b.classes[cls].count == copies * c.count


def test_report_of_a_job_folder_has_the_rank_table(dlrm_dir, tmp_path, serial):
    from profkit.report.build import build_report

    out = build_report([dlrm_dir], tmp_path / "job.html", hta=False)
    html = out.read_text()
    section = html[html.index('<section id="ranks">'):html.index("</section>", html.index('<section id="ranks">'))]
    assert section.count("<tr><td>") == 8
    for s in serial.stragglers.ranks:
        assert f"<b>rank {s.rank}</b> ({s.rule})" in section


def test_rank_table_exposed_communication_and_comm_wait_rule(serial, dlrm_dir):
    """Exposed communication per rank from the raw JSON (interval code of test_communication);
    the comm_wait rule names exactly the ranks under half the median: rank 7."""

    exposed = {}
    for i, name in enumerate(DLRM):
        kernels = [e for e in events(dlrm_dir / name) if e.get("cat") == "kernel"]
        comm = merge([(e["ts"], e["ts"] + e["dur"]) for e in kernels if e["name"].startswith("nccl")])
        comp = merge([(e["ts"], e["ts"] + e["dur"]) for e in kernels if not e["name"].startswith("nccl")])
        exposed[i] = length(comm) - intersect(comm, comp)
    for s in serial.ranks:
        assert s.communication.exposed_us == pytest.approx(exposed[s.rank])
    median = sum(sorted(exposed.values())[3:5]) / 2
    named = {s.rank for s in serial.stragglers.ranks if s.rule == "comm_wait"}
    assert named == {r for r, e in exposed.items() if e < ranks.COMM_WAIT_FRACTION * median} == {7}
    assert "comm_wait" in serial.stragglers.rules


def test_unrelated_traces_in_one_folder_are_not_a_job(tmp_path):
    """Two single-GPU traces from different machines (no distributedInfo): each analysed alone,
    and the output says why, instead of a 2-rank job with a days-long clock offset."""
    (tmp_path / "a.json.gz").symlink_to(real_trace("kineto-rtx5080-mlp-train-eager.json.gz"))
    (tmp_path / "b.json.gz").symlink_to(real_trace("kineto-a100-edgecase-no-kernel-events.json.gz"))
    r = profkit_cli("analyze", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "not one job (2 of 2 traces record no distributed rank" in doc["not_a_job"]
    assert [Path(t["trace"]).name for t in doc["traces"]] == ["a.json.gz", "b.json.gz"]
    text = profkit_cli("analyze", tmp_path)
    assert "each trace is analysed alone" in text.stderr and "straggler" not in text.stdout
    assert ranks.why_not_a_job([SimpleNamespace(rank=0, world_size=8), SimpleNamespace(rank=1, world_size=4)]) \
        == "the traces record different world sizes (4, 8)"


def test_ranks_of_one_world_are_a_job(dlrm_dir):
    members = [profkit.load(p) for p in sorted(dlrm_dir.glob("*rank[01].json.gz"))]
    assert ranks.why_not_a_job(members) is None and ranks.is_job(members)
