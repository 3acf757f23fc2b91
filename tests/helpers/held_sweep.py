"""`profkit` in a process that holds still once the sweep has written N rows: an interruption
test signals it at a known point instead of racing the sweep.

    python -m tests.helpers.held_sweep READY N sweep --model ... --out ...

After the N-th row reaches results.csv the process creates the file READY and sleeps until a
signal arrives (SIGINT raises KeyboardInterrupt there, as Ctrl-C would between two points).
"""

import signal
import sys
import time
from pathlib import Path

from profkit.cli import main
from profkit.sweep.store import ResultsFile


def hold_after(ready, n):
    append = ResultsFile.append
    written = []

    def held(self, row):
        append(self, row)
        written.append(row)
        if len(written) == n:
            Path(ready).touch()
            time.sleep(600)

    ResultsFile.append = held


if __name__ == "__main__":
    # A shell that starts the test suite in the background makes its children ignore SIGINT, and
    # Python then installs no handler: put Ctrl-C's back, so the test's SIGINT acts as one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    hold_after(sys.argv[1], int(sys.argv[2]))
    main(sys.argv[3:])
