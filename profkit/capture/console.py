"""What `profkit capture` shows: live phase progress on stderr, a timing table on stdout."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


class CaptureProgress:
    """One line per (run, phase) with a spinner and elapsed time.

    A CPU compile of gpt2 runs for about a minute with no intermediate output;
    the ticking clock is what tells the user it is still working.
    """

    def __init__(self):
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def run(self, label):
        """A callback `(phase, done, total)` for capture_run, labelled e.g. "gpt2 eager"."""
        tasks = {}

        def update(phase, done, total):
            if phase not in tasks:
                tasks[phase] = self._progress.add_task(f"{label}: {phase}", total=total)
            self._progress.update(tasks[phase], completed=done, total=total)

        return update


def print_timings(sidecars, out_dir):
    """The small table of un-profiled timings, one row per mode, then the files written."""
    first = sidecars[0]
    table = Table(title=f"{first['model']['name']}: un-profiled timing, median of {first['steps']}",
                  title_justify="left")
    for col in ("mode", "TTFT ms", "decode ms/tok", "tokens/s", "total ms", "min–max", "CV %", "peak MiB"):
        table.add_column(col, justify="left" if col == "mode" else "right", no_wrap=col in ("mode", "min–max"))
    for s in sidecars:
        t, n = s["timing"], s["timing"]["noise"]
        cv = "–" if n["cv_pct"] is None else f"{n['cv_pct']:.1f}"
        table.add_row(
            s["mode"], f"{t['ttft_ms']:.1f}", f"{t['decode_ms_per_token']:.2f}", f"{t['tokens_per_s']:.1f}",
            f"{t['total_ms']:.1f}", f"{n['min_ms']:.0f}–{n['max_ms']:.0f}",
            f"[yellow]{cv}*[/yellow]" if n["verdict"] == "noisy" else cv,
            f"{s['peak_memory_bytes'] / 2**20:.0f}",
        )
    console = Console()
    console.print(table)
    noisy = [s for s in sidecars if s["timing"]["noise"]["verdict"] == "noisy"]
    for s in noisy:
        n = s["timing"]["noise"]
        console.print(f"[yellow]* noisy[/yellow] {s['mode']}: {'; '.join(n['reasons'])} "
                      f"(load average {_load(n)}).", highlight=False)
    if noisy:
        console.print(f"Differences smaller than the min–max range are noise: rerun on an idle machine or "
                      f"with more --steps (now {first['steps']}). Rule: {noisy[0]['timing']['noise']['rule']}.",
                      highlight=False)
    console.print(
        f"{first['device']['type']} ({first['device']['name']}), {first['dtype']}, batch {first['batch']}, "
        f"prompt {first['prompt_len']}, {first['new_tokens']} new tokens. Written to {out_dir}/:",
        highlight=False,
    )
    for s in sidecars:
        console.print(f"  {s['trace']}  (+ .meta.json)", highlight=False)


def _load(n):
    la = n["load_avg"]
    return " → ".join("?" if v is None else f"{v:.2f}" for v in (la["before"], la["after"]))
