"""Command line: parse arguments, call the layers, print. No logic lives here."""

import os
import sys
from pathlib import Path

import click

from profkit import __version__
from profkit.errors import ProfkitError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="profkit")
def cli():
    """Profile LLM inference and explain where the time goes."""


@cli.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to save the JSON  [default: ~/.cache/profkit/calibration.json].")
@click.option("--triad-mb", type=click.FloatRange(min=0, min_open=True), default=512, show_default=True,
              help="Total MB of the three triad arrays (keep it well above the last-level cache).")
@click.option("--matmul-n", type=click.IntRange(1), default=2048, show_default=True,
              help="Size n of the n x n matmuls.")
@click.option("--reps", type=click.IntRange(1), default=3, show_default=True,
              help="Timed repetitions of each measurement (the best is kept).")
def calibrate(out, triad_mb, matmul_n, reps):
    """Measure this CPU's memory bandwidth and matmul TFLOP/s for CPU-trace efficiency."""
    import json

    from profkit.capture.calibrate import calibrate as measure
    from profkit.capture.calibrate import save

    result = measure(triad_mb=triad_mb, matmul_n=matmul_n, reps=reps)
    path = save(result, out)
    click.echo(json.dumps(result, indent=2))
    click.echo(f"saved to {path}", err=True)


def main(argv=None):
    """Entry point: user errors become one line on stderr and exit status 2."""
    try:
        cli.main(args=argv, prog_name="profkit", standalone_mode=False)
    except ProfkitError as e:
        click.echo(f"profkit: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("profkit: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("profkit: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `profkit analyze ... | head` must not print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
