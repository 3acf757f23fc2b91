"""The loader gives exactly what the original per-event loader gave, on every shared trace."""

import orjson
import pytest

import profkit
from tests.helpers import DATA
from tests.helpers.digest import trace_digest
from tests.helpers.traces import SHARED, all_real_traces

WANT = orjson.loads((DATA / "loader_digests.json").read_bytes())


@pytest.mark.parametrize("path", all_real_traces(), ids=lambda p: str(p.relative_to(SHARED)))
def test_same_tables_as_the_original_loader(path):
    key = str(path.relative_to(SHARED.parent.parent))
    if key not in WANT:
        pytest.skip(f"{key}: no recorded digest (a trace added after the fixture)")
    assert trace_digest(profkit.load(path)) == WANT[key]
