"""python -m profkit.analysis.result [PATH]: write the JSON Schema (default docs/schema.json)."""

import sys
from pathlib import Path

from profkit.analysis.result import schema_text
from profkit.fileio import write_text_atomic

target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "docs" / "schema.json"
write_text_atomic(target, schema_text())
print(target)
