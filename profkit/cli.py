"""Command line: parse arguments, call the layers, print. No logic lives here."""

import os
import sys

import click

from profkit import __version__
from profkit.errors import ProfkitError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="profkit")
def cli():
    """Profile LLM inference and explain where the time goes."""


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
