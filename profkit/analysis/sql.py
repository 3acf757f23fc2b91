"""SQL over a trace: its tables registered as DuckDB views, queried read-only.

The views are the trace's own DataFrames (DuckDB scans them in place, no copy)
plus the columns analysis adds: each GPU activity's class
(profkit.analysis.classes.classify) and step (profkit.analysis.time.steps), CPU ops' parent
and self time. Tables and columns: docs/sql.md. Only queries run (SELECT,
WITH, FROM, VALUES, DESCRIBE/SUMMARIZE); DuckDB runs without file or network
access, so a query sees the trace and nothing else.
"""

import csv
import io

import numpy as np
import orjson
import pandas as pd

from profkit.analysis.classes import classify
from profkit.analysis.tables import Tables
from profkit.analysis.time import steps
from profkit.errors import ProfkitError

INSTALL_HINT = "profkit sql needs DuckDB: pip install 'profkit[sql]'"
FORMATS = ("table", "csv", "json")
CELL_CHARS = 80  # text wider than this is cut in table output (csv and json keep it whole)
KERNELS_BY_CLASS = """
    SELECT class, count(*) AS kernels, sum(dur) AS time_us, avg(dur) AS avg_us,
           100 * sum(dur) / (SELECT sum(dur) FROM gpu WHERE kind = 'kernel') AS pct
    FROM gpu WHERE kind = 'kernel' GROUP BY class ORDER BY time_us DESC"""


def tables(trace, derived=None):
    """{view name: DataFrame} of one trace (kernels_by_class is a SQL view over gpu). `derived`: the
    trace's analysis.tables.Tables when an analysis has built them already (classes, steps), else made here."""
    derived = derived if derived is not None else Tables(trace)
    launches = trace.gpu_launches()
    ranges = derived.step_ranges()
    gpu = trace.gpu[["name", "kind", "device", "stream", "ts", "dur", "end", "correlation", "external_id",
                     "graph_id", "bytes"]].copy()
    gpu.insert(2, "class", derived.classes()[0] if trace.has_gpu else classify.classify_gpu(trace))
    gpu["step"] = steps.step_numbers(ranges, derived.gpu_steps() if trace.has_gpu else np.empty(0, np.int64))
    gpu["launch_ts"] = launches["launch_ts"]
    runtime = trace.runtime.copy()
    runtime["step"] = steps.step_numbers(ranges, steps.step_of_times(ranges, runtime["ts"].to_numpy(float))
                                    if ranges.source == steps.CPU_STEP else np.full(len(runtime), -1))
    ops = trace.cpu_ops
    cpu_ops = ops[["name", "pid", "tid", "ts", "dur", "end", "external_id", "depth", "parent", "is_leaf"]].copy()
    cpu_ops.insert(0, "id", np.arange(len(ops)))
    cpu_ops["self_dur"] = classify.self_time(ops)
    cpu_ops["class"] = classify.classify_cpu_ops(trace)
    flows = trace.flows.copy()
    flows["phase"] = pd.Categorical.from_codes(flows["phase"].astype(np.int64), categories=["s", "f", "t"])
    return {"gpu": gpu, "runtime": runtime, "cpu_ops": cpu_ops, "annotations": trace.annotations,
            "steps": trace.steps, "flows": flows}


def query(trace, sql, limit=None):
    """(column names, rows, whether rows were left out) of one read-only query over the trace's views:
    at most `limit` rows (None: all of them); only limit + 1 rows are ever fetched, so a query of
    millions of rows costs the memory of the ones shown."""
    try:
        import duckdb
    except ImportError:
        raise ProfkitError(INSTALL_HINT) from None
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise ProfkitError(f"SQL: {_first_line(e)}") from None
        if len(statements) != 1:
            raise ProfkitError(f"give exactly one query (got {len(statements)} statements)")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise ProfkitError(f"only queries are allowed (SELECT ...), not {statements[0].type.name}")
        for name, df in tables(trace).items():
            con.register(name, df)
        con.execute(f"CREATE VIEW kernels_by_class AS {KERNELS_BY_CLASS}")
        try:
            cur = con.execute(sql)
            rows = cur.fetchall() if limit is None else cur.fetchmany(limit + 1)
            more = limit is not None and len(rows) > limit
            return [d[0] for d in cur.description], rows[:limit] if more else rows, more
        except duckdb.Error as e:
            raise ProfkitError(f"SQL: {_first_line(e)}") from None
    finally:
        con.close()


def _first_line(e):
    return str(e).strip().splitlines()[0]


def render(columns, rows, fmt):
    """The result as text: an aligned table, CSV or JSON (a list of objects)."""
    if fmt == "json":
        return orjson.dumps([dict(zip(columns, r)) for r in rows], default=str,
                            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        w.writerows(["" if v is None else v for v in r] for r in rows)
        return out.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) for i in range(len(columns))]

    def line(vals):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells]
                     + [f"({len(rows)} row{'s' if len(rows) != 1 else ''})"])


def _cell(v):
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else f"{v:g}"
    text = str(v)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"
