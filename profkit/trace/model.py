"""The Trace object: one loaded profiler trace as pandas tables.

Tables are built once from the compact columns; names are pandas categoricals
(one copy of each string). Joins that only some analyses need (launch of each
GPU activity, CPU op of each kernel, CPU op nesting) are computed once, on first
use, from the tables as they are then: edit a table before analysing, not between analyses.
"""

import re
from functools import cached_property
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from profkit.trace import columns as C
from profkit.trace.pool import return_freed_memory

STEP_NAME = r"^ProfilerStep#(\d{1,18})$"  # the one pattern of a profiler step's name (a number int64 holds)
_DTYPES = {"d": np.float64, "q": np.int64, "b": np.int8}


def _categorical(codes, strings):
    cat = pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=pd.Index(strings, dtype=object))
    return cat.remove_unused_categories()


def name_mask(names, pattern):
    """Boolean mask of the rows of a name Series that `pattern` (a regex, re.search) matches,
    testing each distinct name once: names are categorical (or factorized here), so a
    million rows cost a few thousand regex calls. Missing names never match."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    if isinstance(names.dtype, pd.CategoricalDtype):
        codes, distinct = names.cat.codes.to_numpy(), names.cat.categories
    else:
        codes, distinct = pd.factorize(names)
    hit = np.array([bool(regex.search(str(c))) for c in distinct] + [False])
    return hit[codes]


def object_ids(column):
    """The identity of each row's object: rows whose shape text is the same share one object
    (the loader parses each distinct text once), so this groups them without hashing lists."""
    return np.fromiter(map(id, column), np.int64, len(column))


def first_of_groups(*codes):
    """(rows, group) of rows grouped by equal values in every integer array of `codes`:
    rows[g] is the first row of group g, group[i] the group of row i."""
    key = np.zeros(len(codes[0]), np.int64)
    for c in codes:
        c, distinct = pd.factorize(np.asarray(c))
        key = pd.factorize(key * len(distinct) + c)[0]  # stays dense: no overflow
    _, rows, group = np.unique(key, return_index=True, return_inverse=True)
    return rows, group.reshape(-1)


def _frame(table, spec, cats):
    """DataFrame from array columns (taken from `table` one by one, so each is freed once in the frame);
    `cats` maps a column to its symbol list."""
    data = {}
    for col, code in spec.items():
        arr = np.asarray(table.pop(col), dtype=_DTYPES[code])
        data[col] = _categorical(arr, cats[col]) if col in cats else arr
        del arr
    df = pd.DataFrame(data, copy=False)  # one block per column: no consolidated copy of the table
    if "ts" in df and "dur" in df:
        df["end"] = df["ts"] + df["dur"]
    return_freed_memory()  # the table's columns, freed above: peak memory is one table over the trace, not two
    return df


def _sorted(df, *keys):
    """df in the stable order of its numeric columns `keys` (the first the most significant), as
    sort_values(list(keys), kind="stable", ignore_index=True) gives; not copied when already in order."""
    order = np.lexsort([df[k].to_numpy() for k in reversed(keys)])
    if (order[1:] > order[:-1]).all():
        return df
    return df.take(order).reset_index(drop=True)


def _objects(codes, decoded):
    """An object array: decoded[code] per row, None for a negative code (one shared object per code);
    no rows: an empty list (a column pandas types as float, as it always was)."""
    if not len(codes):
        return []
    table = np.empty(len(decoded) + 1, dtype=object)
    for i, v in enumerate(decoded):  # one by one: numpy would make equal-length lists a 2-D block
        table[i] = v
    return table[np.where(np.asarray(codes) >= 0, codes, len(decoded))]


def _decode_some(codes, strings):
    """Like _decode_shapes for a column that uses few of the strings: parse only those."""
    codes = np.asarray(codes)
    used = np.unique(codes[codes >= 0])
    decoded = [orjson.loads(strings[c]) for c in used.tolist()]
    return _objects(np.where(codes >= 0, np.searchsorted(used, codes), -1), decoded)


def _decode_shapes(codes, strings):
    """Map shape codes to Python objects, parsing each distinct JSON text once."""
    return _objects(codes, [orjson.loads(s) for s in strings])


class Trace:
    """A profiler trace. See TRACE docs in README ("Python API")."""

    def __init__(self, path, meta, cols: "C.Columns", warnings):
        self.path = Path(path)
        self.meta = meta
        self.warnings = list(warnings)
        self.counts = {("" if k is None else str(k)): v for k, v in cols.counts.items()}
        self.thread_names = cols.thread_names
        names = cols.names.strings
        shape_text = [s.decode() for s in cols.shapes.strings]

        gpu = _frame(cols.pop("gpu"), C.GPU, {"name": names, "grid": shape_text, "block": shape_text})
        gpu["collective"] = _decode_some(gpu.pop("collective"), cols.shapes.strings)
        gpu["kind"] = pd.Categorical.from_codes(gpu["kind"].astype(np.int64), categories=list(C.GPU_KINDS))
        for col in ("grid", "block"):
            gpu[col] = gpu[col].cat.add_categories([""]) if "" not in gpu[col].cat.categories else gpu[col]
            gpu[col] = gpu[col].fillna("")
        self.gpu = _sorted(gpu, "ts")
        del gpu

        self.runtime = _sorted(_frame(cols.pop("runtime"), C.RUNTIME, {"name": names, "cat": names}), "ts")

        cpu = _frame(cols.pop("cpu"), C.CPU, {"name": names})
        cpu["input_dims"] = _decode_shapes(cpu.pop("dims"), cols.shapes.strings)
        cpu["input_types"] = _decode_shapes(cpu.pop("types"), cols.shapes.strings)
        cpu["input_concrete"] = _decode_shapes(cpu.pop("concrete"), cols.shapes.strings)
        cpu["collective"] = _decode_some(cpu.pop("collective"), cols.shapes.strings)
        # Enclosing ops first on ties, so nesting can be read off in order.
        cpu["_neg_dur"] = -cpu["dur"]
        self._cpu = _sorted(cpu, "pid", "tid", "ts", "_neg_dur").drop(columns="_neg_dur")
        del cpu

        annot = _frame(cols.pop("annot"), C.ANNOT, {"name": names})
        annot["on_gpu"] = annot["on_gpu"].astype(bool)
        self.annotations = _sorted(annot, "ts")
        self.syncs = _sorted(_frame(cols.pop("sync"), C.SYNC, {"name": names}), "ts")
        self.flows = _frame(cols.pop("flow"), C.FLOW, {"cat": names})
        return_freed_memory()  # and the sorts' copies

    # -- simple facts ---------------------------------------------------------
    @property
    def has_gpu(self):
        return len(self.gpu) > 0

    @property
    def device_properties(self):
        props = self.meta.get("deviceProperties")
        return [p for p in props if isinstance(p, dict)] if isinstance(props, list) else []  # (objects only)

    def _dist(self, key):
        info = self.meta.get("distributedInfo")
        v = info.get(key) if isinstance(info, dict) else None
        return v if isinstance(v, int) else None

    @property
    def rank(self):
        return self._dist("rank")

    @property
    def world_size(self):
        return self._dist("world_size")

    @cached_property
    def steps(self):
        """CPU-side ProfilerStep#N ranges (user annotations, or operators in 2021 traces)."""
        cpu_ann = self.annotations[~self.annotations["on_gpu"]]
        cpu_side = pd.concat([t.loc[name_mask(t["name"], STEP_NAME), ["name", "ts", "dur", "end"]]
                              for t in (cpu_ann, self._cpu)], ignore_index=True)
        num = cpu_side["name"].astype(str).str.extract(STEP_NAME, expand=False)
        steps = cpu_side[num.notna()].assign(step=num.dropna().astype(np.int64))
        steps = steps.drop_duplicates("step").sort_values("ts", ignore_index=True)
        return steps[["step", "ts", "dur", "end"]]

    # -- CPU ops with nesting ---------------------------------------------------
    @cached_property
    def cpu_ops(self):
        """CPU ops with `depth`, `parent` (row position, -1) and `is_leaf`."""
        cpu = self._cpu.copy(deep=False)  # new columns only: the ops themselves are shared
        depth, parent, leaf = nesting(cpu["pid"].to_numpy(), cpu["tid"].to_numpy(), cpu["end"].to_numpy())
        cpu["depth"], cpu["parent"], cpu["is_leaf"] = depth, parent, leaf
        return cpu

    # -- joins ------------------------------------------------------------------
    @cached_property
    def _launches(self):
        """(the runtime calls by correlation id, first of each id; the row of each GPU activity's
        launch in it, -1 without one): one hash lookup per activity, shared by both joins."""
        rt = self.runtime[self.runtime["correlation"] >= 0]
        rt = rt.drop_duplicates("correlation").set_index("correlation")
        return rt, rt.index.get_indexer(self.gpu["correlation"].to_numpy())

    def launch_column(self, col):
        """A column of each GPU activity's launch (trace.runtime's `col`), NaN without one."""
        rt, at = self._launches
        return _at(rt[col], at)

    def gpu_launches(self):
        """trace.gpu with the CPU-side launch of each activity (by correlation id)."""
        return self._gpu_launches.copy(deep=False)  # the caller may add columns

    def gpu_ops(self):
        """trace.gpu with the CPU op that launched each activity (innermost op)."""
        return self._gpu_ops.copy(deep=False)

    @cached_property
    def _gpu_launches(self):
        rt, at = self._launches
        out = self.gpu.copy(deep=False)  # new columns only: the activities themselves are shared
        for col, src in (("launch_name", rt["name"].astype(object)), ("launch_ts", rt["ts"]),
                         ("launch_dur", rt["dur"]), ("launch_tid", rt["tid"])):
            out[col] = _at(src, at)
        return out

    @cached_property
    def op_rows(self):
        """The row in cpu_ops (and the op tables) of the CPU op that launched each GPU activity (the
        innermost op of its external id), -1 without one: a numpy array over trace.gpu's rows."""
        ext = pd.Series(self.launch_column("external_id"), index=self.gpu.index)
        ext = ext.where(ext > 0, self.gpu["external_id"].where(self.gpu["external_id"] > 0))
        # The op of each external id; the shortest wins when an id repeats: it is the innermost.
        cpu_ext = self._cpu["external_id"].to_numpy()
        rows = np.flatnonzero(cpu_ext > 0)
        rows = rows[np.argsort(self._cpu["dur"].to_numpy()[rows], kind="stable")]
        ids, first = np.unique(cpu_ext[rows], return_index=True)  # first: the shortest op of each id
        rows = rows[first]
        want = ext.fillna(0).to_numpy(np.int64)
        pos = np.minimum(np.searchsorted(ids, want), max(len(ids) - 1, 0))
        return np.where((want > 0) & (ids[pos] == want), rows[pos], -1) if len(ids) else np.full(len(want), -1)

    @cached_property
    def _gpu_ops(self):
        at = self.op_rows

        def column(values):  # the op's value per activity, NaN where there is no op (as Series.map gives)
            return pd.Series(pd.api.extensions.take(np.asarray(values), at, allow_fill=True), index=self.gpu.index)

        out = self.gpu.copy(deep=False)  # new columns only: the activities themselves are shared
        out["op_name"] = column(self._cpu["name"].astype(object)).astype("category")
        for col in ("input_dims", "input_types", "input_concrete", "collective"):
            out["op_" + col] = column(self._cpu[col])
        return out

    def __repr__(self):
        return (f"Trace({self.path.name!r}: {len(self.gpu)} GPU activities, {len(self.runtime)} launches/"
                f"runtime calls, {len(self._cpu)} CPU ops, {len(self.steps)} steps)")


def _at(src, at):
    """src's values at rows `at`, NaN where `at` is -1: what Series.map by the same keys gives, dtypes
    included (an int column turns float where a key is missing; mapping by an empty table gives float)."""
    out = pd.api.extensions.take(src.to_numpy(), at, allow_fill=True)
    return out.astype(np.float64) if not len(src) else out


def nesting(pid, tid, end):
    """Depth, parent and leaf flag of intervals sorted by (pid, tid, ts, -dur).

    The parent of an op is the nearest earlier op of its thread that ends no
    earlier (sorted by start, that op encloses it): what one pass with a stack
    per thread gives, found here for all ops at once by pointer jumping. Each
    op's candidate starts at the op before it; while the candidate ends too
    early, it jumps to the candidate's own candidate (everything skipped ends
    earlier still), so every op is settled in about log2(siblings) rounds. A
    partial overlap (which a well-formed trace does not have) makes the later
    op a child of the nearest op that encloses it entirely.
    """
    n = len(end)
    rows = np.arange(n)
    first = np.zeros(n, np.int64)  # the first row of each row's thread
    if n:
        new = np.ones(n, bool)
        new[1:] = (pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])
        first = np.maximum.accumulate(np.where(new, rows, 0))
    cand = rows - 1
    todo = np.flatnonzero(cand >= first)
    while len(todo):
        todo = todo[end[cand[todo]] < end[todo]]
        cand[todo] = cand[cand[todo]]
        todo = todo[cand[todo] >= first[todo]]
    parent = np.where(cand >= first, cand, -1)
    leaf = np.ones(n, bool)
    leaf[parent[parent >= 0]] = False
    # Depth: after round r every op has min(r, its depth); ops that stop changing are final.
    depth = np.zeros(n, np.int64)
    todo = np.flatnonzero(parent >= 0)
    while len(todo):
        d = depth[parent[todo]] + 1
        changed = d != depth[todo]
        depth[todo] = d
        todo = todo[changed]
    return depth, parent, leaf
