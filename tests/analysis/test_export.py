"""`profkit export`: the tables of a trace to DuckDB, Parquet or CSV, read back with DuckDB and pandas
exactly; atomic, and never over an existing output without --force."""

import pandas as pd
import pytest

import profkit
from tests.helpers.bounded import bounded, one_line_error
from tests.helpers.traces import real_trace

duckdb = pytest.importorskip("duckdb")
BERT = "kineto-h100-bert-small-hf-eager-infer.json.gz"


@pytest.fixture(scope="module")
def bert():
    path = real_trace(BERT)
    return path, profkit.analyze(path)


def _same_ops(ops, a):
    want = a.ops
    assert list(ops["name"]) == list(want["name"]) and list(ops["calls"]) == list(want["calls"])
    assert ops["direct_kernel_us"].tolist() == pytest.approx(want["direct_kernel_us"].tolist(), abs=1e-9)


@pytest.mark.shared
def test_a_duckdb_file_holds_every_table(tmp_path, bert):
    path, a = bert
    out = tmp_path / "t.duckdb"
    r = bounded("export", path, out)
    assert r.returncode == 0, r.stderr
    con = duckdb.connect(str(out), read_only=True)
    names = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"gpu", "runtime", "cpu_ops", "annotations", "steps", "flows", "ops", "op_shapes", "gaps", "classes"} <= names
    assert con.execute("SELECT count(*) FROM gpu").fetchone()[0] == len(a.trace.gpu)
    assert con.execute("SELECT sum(dur_us) FROM gaps").fetchone()[0] == pytest.approx(a.summary.gaps.total_us)
    _same_ops(con.execute("SELECT * FROM ops").df(), a)
    con.close()


@pytest.mark.shared
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_folder_holds_one_file_per_table(tmp_path, bert, fmt):
    path, a = bert
    out = tmp_path / "tables"
    assert bounded("export", path, out, "--format", fmt).returncode == 0
    files = sorted(p.name for p in out.iterdir())
    assert f"gpu.{fmt}" in files and f"ops.{fmt}" in files and f"gaps.{fmt}" in files
    ops = pd.read_csv(out / "ops.csv") if fmt == "csv" else duckdb.read_parquet(str(out / "ops.parquet")).df()
    _same_ops(ops, a)
    gpu = pd.read_csv(out / "gpu.csv") if fmt == "csv" else duckdb.read_parquet(str(out / "gpu.parquet")).df()
    assert len(gpu) == len(a.trace.gpu) and gpu["dur"].sum() == pytest.approx(a.trace.gpu["dur"].sum())


@pytest.mark.shared
def test_an_existing_output_is_kept_unless_forced(tmp_path, bert):
    path, _ = bert
    out = tmp_path / "t.duckdb"
    out.write_bytes(b"mine")
    assert "exists: --force replaces it" in one_line_error(bounded("export", path, out))
    assert out.read_bytes() == b"mine"
    assert bounded("export", path, out, "--force").returncode == 0
    assert out.read_bytes() != b"mine"
    folder = tmp_path / "csv"
    assert bounded("export", path, folder, "--format", "csv").returncode == 0
    assert bounded("export", path, folder, "--format", "csv", "--force").returncode == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.shared
def test_names_that_do_not_say_the_format_are_refused(tmp_path, bert):
    path, _ = bert
    assert "name a .duckdb file" in one_line_error(bounded("export", path, tmp_path / "t.db"))
    assert "writes a folder" in one_line_error(bounded("export", path, tmp_path / "t.duckdb", "--format", "csv"))
