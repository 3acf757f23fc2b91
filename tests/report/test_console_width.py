"""The terminal views read whole at 80 and 100 columns: no column header is cut to an ellipsis
(names in the cells may be, with the full name in the JSON)."""

import pytest
from rich.console import Console

from profkit.analysis.analyze import job, run_ranks, summarize
from profkit.report import console
from profkit.trace import load
from tests.helpers.traces import real_trace

TRACES = ["kineto-b200-vllm-tp8-rank0-eager.json.gz", "kineto-rtx5080-mlp-train-eager.json.gz",
          "hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz", "kineto-v100x8-dlrm-train-rank1.json.gz"]


def _headers(text):
    """The header lines of every table: those between the heavy top rule and its heavy separator, and
    the line above each compact table's rule."""
    lines = text.splitlines()
    out = [line for line in lines if "┃" in line]
    out += [lines[i - 1] for i, line in enumerate(lines) if i and line.strip().startswith("───")]
    return out


def _cut(text):
    return [h for h in _headers(text) if "…" in h]


@pytest.mark.shared
@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize("name", TRACES)
def test_a_trace_reads_whole(name, width):
    con = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.render(summarize(load(real_trace(name))), console=con)
    assert not _cut(con.export_text()), _cut(con.export_text())


@pytest.mark.shared
@pytest.mark.parametrize("width", [80, 100])
def test_the_eight_rank_job_reads_whole(dlrm_dir, width):
    con = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.render_job(job(run_ranks(sorted(dlrm_dir.iterdir())), dlrm_dir), console=con)
    text = con.export_text()
    assert not _cut(text), _cut(text)
    assert "rank" in text and "host-bound" in text
