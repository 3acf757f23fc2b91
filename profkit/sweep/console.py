"""What `profkit sweep` shows: a bar over points with ETA, the current phase, one line per point."""

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from profkit.common.noise import NOISE_RULE

MARKS = {"ok": "[green]✓[/]", "oom": "[red]oom[/]", "skipped": "[yellow]skip[/]", "killed": "[red]killed[/]",
         "error": "[red]error[/]"}


class SweepProgress:
    """An overall bar (points done, elapsed, ETA) and a line for the running point's phase."""

    def __init__(self):
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=30),
                                  MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                  TimeRemainingColumn(), console=Console(stderr=True))
        self._total = self._point = None
        self._label = ""

    def begin(self, total, done):
        if done:
            self._progress.console.print(f"resuming: {done} of {total} points already done", highlight=False)
        self._total = self._progress.add_task("sweep", total=total, completed=done)

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, point):
        self._label = point.label
        if self._point is None:
            self._point = self._progress.add_task(self._label, total=None)
        self._progress.update(self._point, description=self._label, completed=0, total=None, visible=True)

    def phase(self, name, done, total):
        self._progress.update(self._point, description=f"{self._label}: {name}", completed=done, total=total)

    def finish(self, point, row):
        self._progress.advance(self._total)
        self._progress.update(self._point, visible=False)
        mark = MARKS.get(row["status"], row["status"])
        text = summary_text(row) if row["status"] == "ok" else row.get("note", "")
        self._progress.console.print(f"{mark} {escape(point.label)}  [dim]{escape(text)}[/]", highlight=False)


def summary_text(row):
    if "ttft_ms" in row:
        return (f"TTFT {row['ttft_ms']:.1f} ms, decode {row['decode_ms_per_token']:.2f} ms/token, "
                f"{row['tokens_per_s']:.1f} tokens/s, peak {row['peak_memory_mib']:.0f} MiB")
    return f"attention {row['attention_ms']:.2f} ms, inputs {row['input_ms']:.2f} ms, peak {row['peak_memory_mib']:.0f} MiB"


def print_table(workload, rows, out):
    """The measured rows on stdout (the report has the plots), then a one-line tally on stderr."""
    timed = "total_ms" if workload == "gpt2" else "attention_ms"
    if workload == "gpt2":
        grouped = any(str(r.get("kv_groups")) not in ("1", "") for r in rows)
        cols = [("model", "model"), *([("G", "kv_groups")] if grouped else []), ("mode", "mode"),
                ("B", "batch"), ("S", "prompt_len"), ("status", "status"), ("TTFT ms", "ttft_ms"),
                ("ms/tok", "decode_ms_per_token"), ("tok/s", "tokens_per_s"), ("total ms", "total_ms"),
                ("peak MiB", "peak_memory_mib")]
    else:
        copies = any(r.get("h2d_ms") not in (None, "") for r in rows)
        cols = [("mode", "mode"), ("B", "batch"), ("rows", "rows"), ("cols", "cols"), ("status", "status"),
                ("attn ms", "attention_ms"), ("inputs ms", "input_ms"), *([("h2d ms", "h2d_ms")] if copies else []),
                ("GFLOP/s", "gflops_per_s"), ("peak MiB", "peak_memory_mib")]
    table = Table()
    for title, _ in cols:
        table.add_column(title, justify="left" if title in ("model", "mode", "status") else "right")
    for r in rows:
        cells = [escape(_fmt(r.get(key))) for _, key in cols]
        if r.get("noise") == "noisy":  # the measured time (total_ms / attention_ms) carries the mark
            i = [key for _, key in cols].index(timed)
            cells[i] = f"[yellow]{cells[i]}*[/yellow]"
        table.add_row(*cells)
    Console().print(table)
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    noisy = sum(r.get("noise") == "noisy" for r in rows)
    if noisy:
        tally += (f" ({noisy} noisy*: {NOISE_RULE}; min_ms/max_ms/cv_pct in the CSV; more --steps or "
                  "an idle machine narrows them)")
    Console(stderr=True).print(f"{tally}; results in {out / 'results.csv'}; render them with: profkit report {out}",
                               highlight=False, markup=False)


def _fmt(value):
    if value in (None, ""):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() or abs(number) >= 1000:
        return f"{number:.0f}"
    return f"{number:.1f}" if abs(number) >= 100 else f"{number:.2f}"
