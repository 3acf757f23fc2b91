"""A compact, exact fingerprint of everything a loaded Trace exposes.

tests/data/loader_digests.json holds these fingerprints as the v1 loader
(the per-event dict walk, main at 6c2c397: with the collective metadata columns) produced them for every shared
trace; tests/trace/test_loader_digests.py checks that the current loader still agrees.
Regenerate only on purpose: `python -m tests.helpers.digest > tests/data/loader_digests.json`.
"""

import hashlib

import numpy as np
import orjson
import pandas as pd


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def column_digest(s: pd.Series) -> dict:
    numeric = not isinstance(s.dtype, pd.CategoricalDtype) and s.dtype.kind in "biuf"
    out = {"dtype": str(s.dtype) if not isinstance(s.dtype, pd.CategoricalDtype) else "category"}
    if not numeric:
        values = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in s.astype(object)]
        out["hash"] = _h(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY))
        out["distinct"] = _h(orjson.dumps(sorted({orjson.dumps(v).decode() for v in values})))
    else:
        arr = s.to_numpy()
        out["hash"] = _h(np.ascontiguousarray(arr).tobytes())
        if arr.dtype.kind in "fi" and len(arr):
            out["sum"] = float(np.nansum(arr.astype(np.float64)))
    return out


def table_digest(df: pd.DataFrame) -> dict:
    return {"rows": len(df), "columns": {c: column_digest(df[c]) for c in df.columns}}


def trace_digest(trace) -> dict:
    tables = {"gpu": trace.gpu, "runtime": trace.runtime, "cpu_ops": trace.cpu_ops,
              "annotations": trace.annotations, "syncs": trace.syncs, "flows": trace.flows,
              "steps": trace.steps, "gpu_ops": trace.gpu_ops(), "gpu_launches": trace.gpu_launches()}
    return {
        "tables": {k: table_digest(v) for k, v in tables.items()},
        "meta": _h(orjson.dumps(trace.meta, option=orjson.OPT_SORT_KEYS)),
        "counts": dict(sorted(trace.counts.items())),
        "thread_names": _h(orjson.dumps(sorted((list(k), v) for k, v in trace.thread_names.items()))),
        "warnings": len(trace.warnings),
    }


def main():
    import profkit
    from tests.helpers.traces import SHARED, all_real_traces

    lines = [orjson.dumps(str(p.relative_to(SHARED.parent.parent))).decode() + ": "
             + orjson.dumps(trace_digest(profkit.load(p)), option=orjson.OPT_SORT_KEYS).decode()
             for p in all_real_traces()]
    print("{\n" + ",\n".join(lines) + "\n}")  # one line per trace


if __name__ == "__main__":
    main()
