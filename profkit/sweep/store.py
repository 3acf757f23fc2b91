"""A sweep folder: results.csv (one row per finished point) and manifest.json.

Rows are appended whole: one os.write of the complete line on an O_APPEND file,
then fsync, so a Ctrl-C, a crash or a SIGKILL leaves every earlier row intact
and at worst (power loss mid-write) one torn last line, which reading drops.
Rewrites (dropping error rows to retry them) go through a temporary file and a
rename. No torch here: `profkit report` reads sweeps with this module.
"""

import csv
import io
import json
import os
from contextlib import contextmanager
from pathlib import Path

from profkit.errors import ProfkitError
from profkit.fileio import write_text_atomic

SCHEMA = "profkit.sweep/1"
RESULTS, MANIFEST, RUNNING = "results.csv", "manifest.json", ".running"
# "killed": the process died twice while running the point (on Linux usually the
# out-of-memory killer's SIGKILL); like "oom", it is final and skips larger batches.
FINAL = ("ok", "oom", "skipped", "killed")
CLASS_COLUMNS = tuple(f"pct_{c}" for c in ("tensor_contraction", "normalization", "elementwise", "attention",
                                           "memory", "communication", "other"))
HEAD = ("point", "status", "mode", "batch")
# The timed runs' spread (of total_ms for gpt2, attention_ms for sdpa) and the machine's load.
NOISE_COLUMNS = ("min_ms", "max_ms", "cv_pct", "noise", "load_avg")
TAIL = ("elapsed_s", "finished", "note")
COLUMNS = {
    "gpt2": (*HEAD, "model", "kv_groups", "prompt_len", "new_tokens", "dtype", "params",
             "ttft_ms", "decode_ms_per_token", "tokens_per_s", "total_ms",
             "peak_memory_mib", "peak_memory_kind", "kv_cache_mib", "ttft_limit_ms", "decode_limit_ms",
             "compile_s", *NOISE_COLUMNS, "idle_pct", *CLASS_COLUMNS, "trace", *TAIL),
    "sdpa": (*HEAD, "rows", "cols", "dtype", "input_ms", "h2d_ms", "attention_ms", "gflops_per_s",
             "peak_memory_mib", "peak_memory_kind", "attention_limit_ms", *NOISE_COLUMNS, *TAIL),
}


def is_sweep(folder):
    folder = Path(folder)
    return folder.is_dir() and (folder / RESULTS).is_file() and (folder / MANIFEST).is_file()


def read_manifest(folder):
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProfkitError(f"{path} is not a readable sweep manifest ({type(e).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise ProfkitError(f"{path} is not a profkit sweep manifest (expected schema {SCHEMA})")
    return manifest


def read_rows(folder, columns):
    """(rows as dicts of strings, number of lines dropped as torn or malformed)."""
    path = Path(folder) / RESULTS
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ProfkitError(f"cannot read {path}: {e.strerror or e}") from None
    lines = text.split("\n")
    dropped = 0
    if lines[-1]:  # no final newline: the last row was torn mid-write
        dropped += 1
    lines = [line for line in lines[:-1] if line]
    if not lines:
        return [], dropped
    header = next(csv.reader([lines[0]]))
    if tuple(header) != tuple(columns):
        raise ProfkitError(f"{path} has columns this profkit does not write; use another --out")
    rows = []
    batch = columns.index("batch")
    for fields in csv.reader(lines[1:]):
        # A row this profkit did not write (edited by hand, another tool) is dropped like a torn one: its
        # point runs again. Every row profkit writes has a whole number of sequences as its batch.
        if len(fields) != len(columns) or not fields[batch].isdecimal() or len(fields[batch]) > 18:
            dropped += 1
            continue
        rows.append(dict(zip(columns, fields)))
    return rows, dropped


def csv_line(values):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    # One line per row, always: that is what makes a torn row detectable.
    return str(value).replace("\r", " ").replace("\n", " ")


class ResultsFile:
    """The append-only results.csv of one sweep folder."""

    def __init__(self, folder, columns):
        self.path = Path(folder) / RESULTS
        self.columns = tuple(columns)

    def rewrite(self, rows):
        """Replace the file with the header and `rows` (atomically)."""
        text = csv_line(self.columns) + "".join(csv_line([r[c] for c in self.columns]) for r in rows)
        write_text_atomic(self.path, text)

    def append(self, row):
        line = csv_line([_cell(row.get(c)) for c in self.columns]).encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as e:
            raise ProfkitError(f"cannot write {self.path}: {e.strerror or e}; the sweep stops here, and the "
                               "same command resumes it") from None
        try:
            written = os.write(fd, line)
            if written != len(line):  # a full disk; the torn tail is dropped on the next read
                raise ProfkitError(f"could not write a whole row to {self.path} (disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def sweep_lock(folder):
    """Refuse a second sweep writing to the same folder at the same time."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before this existed
        yield
        return
    path = Path(folder) / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ProfkitError(f"another profkit sweep is running in {folder}") from None
        yield
    finally:
        os.close(fd)


def mark_running(folder, key, deaths):
    write_text_atomic(Path(folder) / RUNNING, json.dumps({"point": key, "deaths": deaths}) + "\n")


def read_running(folder):
    """(point key, deaths) of a point the previous process died in, or (None, 0)."""
    try:
        data = json.loads((Path(folder) / RUNNING).read_text(encoding="utf-8"))
        return str(data["point"]), int(data["deaths"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, 0


def clear_running(folder):
    """Forget the point in progress (it did not kill the process). In a folder that became
    read-only the marker cannot go: the next run then counts one death for that point, and
    retries it (a point is "killed" only after two)."""
    try:
        os.unlink(Path(folder) / RUNNING)
    except OSError:
        pass
