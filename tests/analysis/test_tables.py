"""Each derived per-trace table is built once per analysis (profkit.analysis.tables)."""

import sys

import pytest

from profkit.analysis import tables as tables_module
from profkit.analysis.analyze import AnalysisOptions, analyze
from profkit.analysis.classes import classify
from profkit.analysis.time import launches, steps, temporal
from profkit.trace import load
from tests.helpers.traces import real_trace

TRACES = ["kineto-rtx5080-mlp-train-eager.json.gz",             # GPU, CPU-side steps
          "hta/critical_path/cuda_event_sync/event_sync_trace.json.gz",  # host syncs
          "kineto-b200-vllm-tp8-rank0-eager.json.gz",           # kernels, communication
          "hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz"]  # CPU only
BUILDERS = [(launches, "blocking_calls"), (steps, "step_ranges"), (steps, "step_of"),
            (classify, "classify_gpu_layers"), (classify, "classify_cpu_ops"), (temporal, "gaps"),
            (temporal, "gaps_by_device"),
            (tables_module, "EnclosingOps")]


@pytest.fixture
def calls(monkeypatch):
    """Count every call of the table builders, however a module imported them."""
    counts = {name: 0 for _, name in BUILDERS}
    for module, name in BUILDERS:
        original = getattr(module, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("profkit") and getattr(mod, name, None) is original:
                monkeypatch.setattr(mod, name, counted)
    return counts


@pytest.mark.shared
@pytest.mark.parametrize("name", TRACES)
@pytest.mark.parametrize("window", ["gpu", "steps"])
def test_each_table_is_built_once(name, window, calls):
    trace = load(real_trace(name))
    a = analyze(trace, options=AnalysisOptions(window=window, every_gap=True))
    a.summary
    assert set(a.tables.builds.values()) <= {1}
    if trace.has_gpu:
        assert calls["blocking_calls"] == 1
        assert calls["step_ranges"] == 1 and calls["step_of"] == 1
        assert calls["classify_gpu_layers"] == 1 and calls["classify_cpu_ops"] == 0
        # The window's gaps once (every device in one pass), and the what-if's own table of its steps.
        assert calls["gaps_by_device"] == 1
        assert calls["gaps"] == (1 if a.summary.whatif.cudagraph else 0)
    else:
        assert calls["blocking_calls"] == 0 and calls["step_ranges"] == 1
        assert calls["classify_cpu_ops"] == 1 and calls["classify_gpu_layers"] == 0
        assert calls["gaps"] == 1 and calls["gaps_by_device"] == 0
    assert calls["EnclosingOps"] <= 1


@pytest.mark.shared
def test_views_read_the_tables_the_summary_came_from(calls):
    """The annotated trace's layers and the diff's totals reuse the analysis' tables: nothing is rebuilt."""
    a = analyze(load(real_trace(TRACES[0])))
    a.summary
    before = dict(calls)
    table, classes, gaps = a.layers()
    a.kernel_totals(per_step=True)
    assert calls == before
    assert len(gaps) == a.summary.gaps.count and len(classes) == len(table)
