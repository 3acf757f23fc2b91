"""FLOPs, bytes, achieved throughput and MUE per op and per operator class.

MUE (memory usage efficiency, Ivanov et al., "Data Movement Is All You Need",
MLSys 2021, sec. 3) is (Q / D) · (B / B̂) · 100 with Q the bytes an op must move,
D the bytes it does move, B = D / t the achieved and B̂ the peak bandwidth. Since
B = D / t it equals Q / (t · B̂) · 100: the op's shapes give Q, the trace gives t,
the device table gives B̂, and no hardware counters are needed. Compute efficiency
is F / (t · F̂) · 100 with F̂ the peak for the op's dtype.

The unit of accounting is one op call:
- GPU traces: the CPU op that launched the kernels (the innermost op, as Kineto links
  them), timed by the summed duration of all its kernels, memcpys and memsets, and
  classed by its longest kernel. Host<->device copies are left out of MUE (their
  limit is the PCIe/NVLink link, not device memory).
- CPU traces: the outermost op that has a formula (aten::addmm, not the copy_ it runs
  inside), timed by its duration, plus every leaf op outside such ops.
Units whose op recorded no shapes are counted per class under `no_shapes`; units with
shapes but no formula (views, cat, custom ops) under `unmodeled`; GPU activities whose
launching op is missing from the trace under `no_op`. None of them is guessed: a class
with no counted unit keeps its time share, with flops None and a reason starting
"FLOPs unknown".

An MUE above 100% means the op moved its bytes faster than device memory can: part
of them came from cache. Classes and ops above 100% get a `reason` that compares the
bytes one call moves with the device's L2 size (hardware.json `l2_mb`).
"""

import numpy as np
import orjson
import pandas as pd

from profkit.analysis.cost.flops import KIND_CLASS, op_cost, op_kind
from profkit.common.hardware import trace_device
from profkit.analysis.result import (CountTime, Efficiency, EfficiencyClass, EfficiencyTotal, OpAbovePeak, PeakDevice,
                                     Reference, ReferenceClass)
from profkit.analysis.cost.shapes import FLOATING
from profkit.trace.model import first_of_groups, name_mask, object_ids

# Ivanov et al., MLSys 2021, Table 1 ("Proportions for operator classes in PyTorch"):
# a BERT-large encoder layer trained in PyTorch on one NVIDIA V100.
BERT_REFERENCE = Reference(
    source="Ivanov, Dryden, Ben-Nun, Li, Hoefler, 'Data Movement Is All You Need: A Case Study on "
           "Optimizing Transformers', MLSys 2021, Table 1 (BERT-large encoder layer, PyTorch, V100); "
           "https://proceedings.mlsys.org/paper_files/paper/2021/file/"
           "bc86e95606a6392f51f95a8de106728d-Paper.pdf",
    classes={"tensor_contraction": ReferenceClass(pct_flops=99.80, pct_time=61.0),
             "normalization": ReferenceClass(pct_flops=0.17, pct_time=25.5),
             "elementwise": ReferenceClass(pct_flops=0.03, pct_time=13.5)},
)
STATUSES = ("no_shapes", "unmodeled", "host_copy", "no_op")
_HOST_COPY = r"HtoD|DtoH|HtoH|PtoP"
_MIB = 2 ** 20


def mue(q_bytes, t_us, peak_gbs):
    """Memory usage efficiency in %: Q / (t · B̂) · 100 (None when not computable)."""
    if not peak_gbs or not t_us or t_us <= 0 or q_bytes is None:
        return None
    bytes_at_peak = t_us * 1e-6 * peak_gbs * 1e9
    return q_bytes / bytes_at_peak * 100 if bytes_at_peak > 0 else None  # (0 when t_us underflows)


def _dtype(types):
    """The first floating dtype among an op's inputs (it selects the FLOP peak); none without a list
    (NaN: the activity has no op, as in a trace without CPU ops)."""
    for t in types if isinstance(types, list) else ():
        if t in FLOATING:
            return t
    return None


def _aligned(classes, frame):
    """Classes as a Series on frame's index (labels if they fit, else positions)."""
    if isinstance(classes, pd.Series) and classes.index.isin(frame.index).all() \
            and len(classes) != len(frame):
        return classes.astype(object).reindex(frame.index)
    values = np.asarray(classes, dtype=object)
    if len(values) != len(frame):
        raise ValueError(f"{len(values)} classes for {len(frame)} rows")
    return pd.Series(values, index=frame.index)


def _costs(names, dims, types, concrete):
    """(flops, bytes, kind) of each call; calls without an op name (activities whose op is not in
    the trace) cost nothing and have no kind."""
    flops, nbytes = np.full(len(names), np.nan), np.full(len(names), np.nan)
    kinds = np.full(len(names), None, dtype=object)
    named = np.flatnonzero(names.notna().to_numpy())
    # Rows with the same shapes share one parsed object (the loader parses each distinct
    # text once), so calls are costed once per (name, shape objects): all stay alive here.
    names, dims, types, concrete = (c.to_numpy(dtype=object)[named] for c in (names, dims, types, concrete))
    rows, group = first_of_groups(pd.factorize(names)[0], object_ids(dims), object_ids(types),
                                  object_ids(concrete))
    per_group = []
    for i in rows.tolist():
        c = op_cost(names[i], dims[i], types[i], concrete[i])
        per_group.append((c.flops, c.bytes, c.kind) if c else (np.nan, np.nan, op_kind(names[i])))
    if per_group:
        flops[named] = np.array([p[0] for p in per_group], dtype=float)[group]
        nbytes[named] = np.array([p[1] for p in per_group], dtype=float)[group]
        kinds[named] = np.array([p[2] for p in per_group], dtype=object)[group]
    return flops, nbytes, kinds


def _gpu_units(trace, classes):
    ops = trace.gpu_ops()
    # Only the columns the units need: the sort below copies what it is given.
    g = ops[["op_name", "dur", "op_input_dims", "op_input_types", "op_input_concrete"]].assign(
        cls=_aligned(classes, trace.gpu).to_numpy())
    # One unit per launching op call (the external id gpu_ops() joined on);
    # activities without a known op stand alone.
    ext = pd.Series(trace.launch_column("external_id"), index=ops.index)
    ext = ext.where(ext > 0, ops["external_id"])
    known = g["op_name"].notna() & (ext > 0)
    g["unit"] = np.where(known, ext.fillna(-1).astype(np.int64), -1 - np.arange(len(g)))
    g["host"] = (ops["kind"] == "memcpy") & name_mask(ops["name"], _HOST_COPY)
    g = g.sort_values("dur", ascending=False, kind="stable")
    u = g.groupby("unit", sort=False).agg(
        name=("op_name", "first"), cls=("cls", "first"), time_us=("dur", "sum"),
        kernels=("dur", "size"), host=("host", "all"), dims=("op_input_dims", "first"),
        types=("op_input_types", "first"), concrete=("op_input_concrete", "first"))
    u["name"] = u["name"].astype(object)
    return u.reset_index(drop=True)


def _cpu_units(trace, classes):
    ops = trace.cpu_ops
    cls = _aligned(classes, ops) if len(ops) else pd.Series([], dtype=object)
    names = ops["name"].astype(str).to_numpy()
    # A unit is the outermost op that has a formula or a class: its whole time is
    # counted once, so ops like aten::cat (no formula: Kineto records no dtype
    # for tensor lists) still count, and nothing inside a unit counts again.
    unit = np.array([op_kind(n) is not None for n in names], bool) | cls.notna().to_numpy()
    parent = ops["parent"].to_numpy()
    inside = np.zeros(len(ops), bool)  # some enclosing op is a unit
    for i, p in enumerate(parent):     # parents precede their children in cpu_ops
        if p >= 0:
            inside[i] = inside[p] or unit[p]
    keep = ~inside & (unit | ops["is_leaf"].to_numpy())
    sel = ops[keep]
    return pd.DataFrame({"name": names[keep], "cls": cls[keep].to_numpy(), "time_us": sel["dur"].to_numpy(),
                         "kernels": 0, "host": False, "dims": sel["input_dims"].to_numpy(),
                         "types": sel["input_types"].to_numpy(), "concrete": sel["input_concrete"].to_numpy()})


def op_table(trace, classes, device=None, shapes=False):
    """One row per op call: name, cls, status, flops, bytes, time_us and the rates (and, with
    `shapes`, its input dims: rows with the same dims text share one list object).

    status: "counted", "no_shapes", "unmodeled", "host_copy" or "no_op" (a GPU
    activity whose launching CPU op is not in the trace).
    """
    u = _gpu_units(trace, classes) if trace.has_gpu else _cpu_units(trace, classes)
    flops, nbytes, kinds = _costs(u["name"], u["dims"], u["types"], u["concrete"])
    u["flops"], u["bytes"], u["kind"] = flops, nbytes, kinds
    has_shapes = np.array([isinstance(d, list) and len(d) > 0 for d in u["dims"]], dtype=bool)
    no_op = u["name"].isna().to_numpy()
    # A categorical built from its codes: a million statuses compare as integers, not as strings.
    order = ("counted",) + STATUSES
    first = [u["host"].to_numpy(dtype=bool), no_op, ~has_shapes, u["bytes"].isna().to_numpy()]
    codes = np.select(first, [order.index(s) for s in ("host_copy", "no_op", "no_shapes", "unmodeled")], 0)
    u["status"] = pd.Categorical.from_codes(codes, categories=order)
    # A class for ops the classifier did not label (CPU ops that enclose others).
    fallback = u["kind"].map(KIND_CLASS).fillna("other")
    u["cls"] = u["cls"].where(u["cls"].notna(), fallback)
    t = u["time_us"].where(u["time_us"] > 0) * 1e-6
    u["tflops"] = u["flops"] / t / 1e12
    u["gbps"] = u["bytes"] / t / 1e9
    # The FLOP peak of each call with FLOPs (the rest have no ideal time): rows with the same input
    # types share one object, so one lookup each.
    costed = np.flatnonzero(np.isfinite(flops))
    types = u["types"].to_numpy(dtype=object)[costed]
    rows, group = first_of_groups(object_ids(types))
    peak = np.full(len(u), np.nan)
    if device is not None and len(costed):
        found = pd.to_numeric(pd.Series([device.peak_tflops(_dtype(types[i])) for i in rows.tolist()],
                                        dtype=object), errors="coerce").to_numpy(float)
        peak[costed] = found[group]
    u["ideal_us"] = u["flops"] / (peak * 1e6)
    u["mue_pct"] = u["bytes"] / (u["time_us"] * 1e3 * device.bandwidth_gbs) * 100 \
        if device is not None and device.bandwidth_gbs else np.nan
    u["compute_pct"] = u["ideal_us"] / u["time_us"] * 100
    return u.drop(columns=["concrete", "host", "kind", *([] if shapes else ["dims"])])


def op_shapes(trace, classes, hw):
    """One row per op name and input shapes: calls, time_us, flops, bytes, tflops, gbps, the share of
    the device's FLOP peak the calls reached (compute_pct: their ideal time over their time) and of
    its bandwidth (mue_pct), cls and status. FLOPs and bytes are those of the calls profkit can cost
    (status "counted"); the rest have none. `hw`: a hardware.Device, or None (no peaks)."""
    u = op_table(trace, classes, hw, shapes=True)
    # Rows with the same dims text share one object: one JSON text per distinct object, not per row.
    rows, group = first_of_groups(object_ids(u["dims"].tolist()))
    text = np.array([orjson.dumps(d).decode() if isinstance(d, list) else "" for d in u["dims"].to_numpy()[rows]],
                    dtype=object)
    u = u.assign(shape=text[group], counted_us=u["time_us"].where(u["status"] == "counted"))
    g = u.groupby(["name", "shape"], sort=False, dropna=False)
    out = g.agg(calls=("time_us", "size"), time_us=("time_us", "sum"), flops=("flops", lambda x: x.sum(min_count=1)),
                bytes=("bytes", lambda x: x.sum(min_count=1)), counted_us=("counted_us", "sum"),
                ideal_us=("ideal_us", lambda x: x.sum(min_count=1)), cls=("cls", "first"),
                status=("status", "first")).reset_index()
    t = out["counted_us"].where(out["counted_us"] > 0)
    out["tflops"] = out["flops"] / (t * 1e6)
    out["gbps"] = out["bytes"] / (t * 1e3)
    out["compute_pct"] = 100 * out["ideal_us"] / t
    out["mue_pct"] = out["gbps"] / hw.bandwidth_gbs * 100 if hw is not None and hw.bandwidth_gbs else np.nan
    out["status"] = out["status"].astype(str)
    return out.drop(columns=["counted_us", "ideal_us"]).sort_values("time_us", ascending=False, kind="stable",
                                                                     ignore_index=True)


def _num(x):
    return None if x is None or not np.isfinite(x) else float(x)


def efficiency_summary(trace, classes, hw=None, peak_bw=None, peak_tflops=None, calibration=None, recorded=None):
    """FLOPs / bytes / TFLOP/s / GB/s / MUE per class, with reasons (an Efficiency).

    `classes`: the classifier's classes for trace.gpu rows (GPU traces) or
    trace.cpu_ops rows (CPU traces; all rows, or the leaf rows with their labels).
    `hw`: a hardware.Device; when None, the trace's device (or the CPU calibration)
    is used (the peaks a capture `recorded` first). peak_bw (GB/s) /
    peak_tflops (TFLOP/s) override either.
    """
    if hw is None:
        hw, reason = trace_device(trace, peak_bw, peak_tflops, calibration, recorded)
    else:
        hw, reason = hw.with_overrides(peak_bw, peak_tflops), None
    u = op_table(trace, classes, hw)
    counted = u[u["status"] == "counted"]
    total_time = float(u["time_us"].sum())
    total_flops = float(counted["flops"].sum())
    out = {}
    for cls, g in u.groupby("cls", sort=True):
        c = g[g["status"] == "counted"]
        t = float(c["time_us"].sum())
        f, q = float(c["flops"].sum()), float(c["bytes"].sum())
        ideal = c["ideal_us"].dropna()
        above = c[c["mue_pct"] > 100]
        row = EfficiencyClass(
            time_us=float(g["time_us"].sum()),
            pct_time=100 * float(g["time_us"].sum()) / total_time if total_time else None,
            ops=int(len(g)),
            counted=CountTime(count=int(len(c)), time_us=t),
            flops=f if len(c) else None,
            bytes=q if len(c) else None,
            pct_flops=100 * f / total_flops if len(c) and total_flops else None,
            tflops=f / (t * 1e6) if t > 0 else None,
            gbps=q / (t * 1e3) if t > 0 else None,
            mue_pct=_num(mue(q, t, hw.bandwidth_gbs)) if hw is not None and t > 0 else None,
            compute_pct=(100 * float(ideal.sum()) / float(c.loc[ideal.index, "time_us"].sum())
                         if len(ideal) and c.loc[ideal.index, "time_us"].sum() > 0 else None),
            **{status: CountTime(count=int((g["status"] == status).sum()),
                                 time_us=float(g.loc[g["status"] == status, "time_us"].sum())) for status in STATUSES},
            above_peak=CountTime(count=int(len(above)), time_us=float(above["time_us"].sum())),
            reason=None,
        )
        row.reason = _reason(row, hw, reason) or (
            cache_reason(row.mue_pct, float(above["bytes"].median()), hw.l2_mb)
            if row.mue_pct is not None and row.mue_pct > 100 else None)
        out[str(cls)] = row
    return Efficiency(
        classes=out,
        ops_above_peak=_ops_above_peak(counted, hw),
        total=EfficiencyTotal(time_us=total_time, flops=total_flops, bytes=float(counted["bytes"].sum()),
                              ops=int(len(u)), counted=int(len(counted)),
                              **{st: int((u["status"] == st).sum()) for st in STATUSES}),
        device=None if hw is None else PeakDevice(name=hw.name, bandwidth_gbs=hw.bandwidth_gbs, tflops=dict(hw.tflops),
                                                  source=hw.source, note=hw.note, l2_mb=hw.l2_mb,
                                                  l2_source=hw.l2_source),
        unavailable=reason,
        reference=BERT_REFERENCE,
    )


def cache_reason(mue_pct, bytes_per_call, l2_mb):
    """Why an MUE above 100% is possible: from cache, given what one call moves and the L2 size (MiB)."""
    head = f"{mue_pct:.0f}% of the DRAM peak is more than device memory delivers: part of the data came from cache"
    if l2_mb is None:
        return f"{head} (the device's L2 size is not in the hardware table)"
    mib = bytes_per_call / _MIB
    if mib <= l2_mb:
        return (f"{head}; one call moves {mib:.3g} MiB (median), which fits in the {l2_mb:g} MiB L2, "
                f"so data written or read just before is read again from L2")
    return (f"{head}; one call moves {mib:.3g} MiB (median), more than the {l2_mb:g} MiB L2, so only part of it "
            f"can be cache-resident (operands reused within the call, or a byte formula that counts them twice)")


def _ops_above_peak(counted, hw):
    """Ops (by name and class) whose MUE over all their calls is above 100%, longest first."""
    if hw is None or not hw.bandwidth_gbs or not len(counted):
        return []
    g = counted.groupby(["name", "cls"], sort=False).agg(
        calls=("time_us", "size"), time_us=("time_us", "sum"), bytes=("bytes", "sum"),
        bytes_per_call=("bytes", "median"))
    g["mue_pct"] = g["bytes"] / (g["time_us"] * 1e3 * hw.bandwidth_gbs) * 100
    g = g[g["mue_pct"] > 100].sort_values("time_us", ascending=False)
    return [OpAbovePeak(name=str(name), cls=str(cls), calls=int(r.calls), time_us=float(r.time_us),
                        bytes_per_call=float(r.bytes_per_call), mue_pct=float(r.mue_pct),
                        reason=cache_reason(r.mue_pct, r.bytes_per_call, hw.l2_mb)) for (name, cls), r in g.iterrows()]


def _reason(row, hw, reason):
    if not row.counted.count:
        if row.no_shapes.count:
            return "FLOPs unknown: no recorded shapes (profile with record_shapes=True)"
        if row.no_op.count and not row.unmodeled.count:
            return "FLOPs unknown: the CPU ops that launched these kernels are not in the trace"
        return "FLOPs unknown: no op in this class has a FLOP/byte formula"
    if hw is None:
        return reason
    if row.mue_pct is None:
        return "peak bandwidth unknown (pass --peak-bw)"
    return None
