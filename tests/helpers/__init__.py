"""Helpers of the tests (plain functions, no fixtures: those are in tests/conftest.py).

- `traces`: real traces in ../shared (`real_trace`, `all_real_traces`, `SHARED`), reading traces the plain way
  (`raw_events`, `x_events`), synthetic traces (`ev`, `write_kineto`), the analysis as JSON (`summary_json`);
- `cli`: the command line (`profkit_cli` in a subprocess, `main_exit` in-process, `capture`);
- `models`: tiny GPT-2 configs, greedy tokens, fake calibrations;
- `intervals`, `steps`: independent recomputations (interval arithmetic, per-step figures) from plain JSON;
- `runs`: fake capture folders (sidecars and run.json);
- `report`: synthetic traces and summaries for the report tests, and reading the report's HTML;
- `chromium`: a headless Chromium over the DevTools pipe; `digest`: fingerprints of loaded traces.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
