"""`profkit export TRACE OUT`: every table of a trace, and the analysis' per-op and gap tables,
to one DuckDB file or a folder of Parquet or CSV files, through DuckDB's own writers.

OUT ending in `.duckdb` is one DuckDB database with a table per frame; otherwise OUT is a folder
holding one file per table, named after it (`gpu.parquet`, `ops.csv`, ...). The output is written
beside OUT under a temporary name and renamed onto it once complete, and an existing OUT is
refused unless `force` (then replaced, never half-written). Tables: those of `profkit sql`
(gpu, runtime, cpu_ops, annotations, steps, flows: docs/sql.md) and those of `profkit.analyze`
(ops, op_shapes, gaps, classes: docs/python.md).
"""

import os
import shutil
import tempfile
from pathlib import Path

from profkit.analysis import sql
from profkit.analysis.notebook import TraceAnalysis
from profkit.errors import ProfkitError

FORMATS = ("duckdb", "parquet", "csv")


def frames(analysis):
    """{table name: DataFrame} of one TraceAnalysis."""
    out = dict(sql.tables(analysis.trace, analysis.tables))  # the classes and steps the analysis built
    out["ops"] = analysis.ops
    out["op_shapes"] = analysis.op_shapes
    out["gaps"] = analysis.gaps
    out["classes"] = analysis.classes.reset_index()
    return out


def export(path, out, fmt=None, force=False):
    """Write the tables of the trace at `path` to `out`; returns (format, {table: rows})."""
    try:
        import duckdb
    except ImportError:
        raise ProfkitError("profkit export needs DuckDB: pip install 'profkit[sql]'") from None
    out = Path(out)
    fmt = fmt or ("duckdb" if out.suffix == ".duckdb" else None)
    if fmt not in FORMATS:
        raise ProfkitError(f"{out}: name a .duckdb file, or give --format parquet or csv for a folder")
    if fmt == "duckdb" and out.suffix != ".duckdb":
        raise ProfkitError(f"{out}: a DuckDB export is one file ending in .duckdb")
    if fmt != "duckdb" and out.suffix == ".duckdb":
        raise ProfkitError(f"{out}: --format {fmt} writes a folder; name it without .duckdb")
    if out.exists() and not force:
        raise ProfkitError(f"{out} exists: --force replaces it")
    tables = frames(TraceAnalysis(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        target = tmp / out.name if fmt == "duckdb" else tmp / "tables"
        if fmt != "duckdb":
            target.mkdir()
        con = duckdb.connect(str(target) if fmt == "duckdb" else ":memory:")
        try:
            for name, df in tables.items():
                con.register("frame", df)
                if fmt == "duckdb":
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame')
                else:
                    dest = str(target / f"{name}.{fmt}").replace("'", "''")
                    con.execute(f"COPY (SELECT * FROM frame) TO '{dest}' (FORMAT {fmt}"
                                f"{', HEADER' if fmt == 'csv' else ''})")
                con.unregister("frame")
        finally:
            con.close()
        _replace(target, out)
    except duckdb.Error as e:
        raise ProfkitError(f"{out}: DuckDB could not write it ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise ProfkitError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return fmt, {name: len(df) for name, df in tables.items()}


def _replace(new, out):
    """Put `new` where `out` is, in one rename (an old folder moves aside first, then goes)."""
    if out.is_dir() and not out.is_symlink():
        old = new.with_name(new.name + ".old")
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)
