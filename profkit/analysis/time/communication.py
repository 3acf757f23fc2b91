"""Communication: how long collectives ran, how much of it computation hid, and
what bandwidth they reached where PyTorch recorded what they moved.

Per device, over the analysis window:
- time_us: the union of the device's communication kernels (class "communication":
  NCCL/RCCL, custom all-reduce, DeepEP, NVSHMEM, ...), so concurrent streams count once;
- exposed_us: the part of that time during which no computation ran on any stream of
  the device. Computation is every other kernel, as in HTA's comm/comp overlap: copy,
  gather and other memory-class *kernels* count, memcpy/memset activities do not;
- overlap_pct: 100 * (time_us - exposed_us) / time_us, None without communication.
The trace's numbers add the devices up (a trace usually holds one rank, one device).
`timeline`: for the first device that communicates, the share of each of 200 equal
slices of the window that computation, communication and exposed communication cover
(the report's compute vs communication strip).

Per collective, where PyTorch recorded its metadata ("Collective name", "In/Out msg
nelems", "dtype", "Group size") on the NCCL kernel (recent releases) or on the
record_param_comms op that launched it (collective_args): calls, bytes and kernel time summed per
(name, dtype, group size), with nccl-tests' bandwidths (doc/PERFORMANCE.md):
algbw = S / t, S the size of the whole buffer (the larger of the input and output
message: an all-gather's output, a reduce-scatter's input), and busbw = algbw times
2(n-1)/n for all-reduce, (n-1)/n for all-gather, reduce-scatter and all-to-all,
1 for broadcast, reduce and send/recv. Collectives of another kind get no busbw.
"""

import re

import numpy as np

from profkit.analysis.time import intervals
from profkit.analysis.time import temporal
from profkit.analysis.classes.rules import COMM
from profkit.analysis.cost.shapes import SCALAR_NAME_BYTES
from profkit.analysis.result import Collective, CommBin, Communication, DeviceCommunication

# (pattern on the recorded collective name, kind, busbw factor as a function of the group size n)
_KINDS = (
    (r"reduce_?scatter", "reduce_scatter", lambda n: (n - 1) / n),
    (r"all_?gather", "all_gather", lambda n: (n - 1) / n),
    (r"all_?reduce", "all_reduce", lambda n: 2 * (n - 1) / n),
    (r"all_?to_?all", "all_to_all", lambda n: (n - 1) / n),
    (r"broadcast", "broadcast", lambda n: 1.0),
    (r"^_?reduce", "reduce", lambda n: 1.0),
    (r"^_?(?:send|recv)", "send_recv", lambda n: 1.0),
)
_KEYS = "'Collective name', 'In/Out msg nelems', 'dtype' and 'Group size'"


def _pct(time_us, exposed_us):
    return 100 * (time_us - exposed_us) / time_us if time_us > 0 else None


def kind_of(name):
    """(kind, busbw factor function) of a recorded collective name, or (None, None)."""
    text = name.lower()
    for pattern, kind, factor in _KINDS:
        if re.search(pattern, text):
            return kind, factor
    return None, None


def collective_args(trace):
    """Collective metadata of each row of trace.gpu (a dict, or None): the kernel's own
    args, else those of the CPU op that launched it (record_param_comms carries them in
    PyTorch releases that do not copy them onto the kernel)."""
    own = trace.gpu["collective"]
    missing = own.isna().to_numpy() & (trace.gpu["kind"] == "kernel").to_numpy()
    if not missing.any():
        return own
    launched = trace.gpu_ops()["op_collective"]
    return own.where(~missing, launched)


def communication(gpu, classes, lo, hi):
    """Communication of GPU activities `gpu` (trace.gpu rows in the analysis window:
    ts, end, dur, device, kind, collective) whose classes are `classes`, in [lo, hi]."""
    classes = np.asarray(classes, dtype=object)
    is_comm = classes == COMM
    is_compute = (gpu["kind"] == "kernel").to_numpy() & ~is_comm
    devices, timeline = [], []
    for dev in sorted(set(gpu["device"].to_numpy()[is_comm].tolist())):
        on = (gpu["device"] == dev).to_numpy()
        comm = intervals.union(gpu["ts"].to_numpy()[on & is_comm], gpu["end"].to_numpy()[on & is_comm])
        comp = intervals.union(gpu["ts"].to_numpy()[on & is_compute], gpu["end"].to_numpy()[on & is_compute])
        time_us = intervals.covered(*comm, lo, hi)
        exposed = time_us - intervals.covered_both(comm, comp, lo, hi)
        devices.append(DeviceCommunication(device=int(dev), time_us=time_us, exposed_us=exposed,
                                           overlap_pct=_pct(time_us, exposed)))
        if not timeline:
            timeline = _timeline(comm, comp, lo, hi)
    time_us = float(sum(d.time_us for d in devices))
    exposed = float(sum(d.exposed_us for d in devices))
    collectives, reason = _collectives(gpu[is_comm])
    return Communication(time_us=time_us, exposed_us=exposed, overlap_pct=_pct(time_us, exposed),
                         collectives=collectives, reason=reason, devices=devices, timeline=timeline)


def _timeline(comm, comp, lo, hi):
    """Per slice: computation, communication, and communication not under computation
    (the union of both minus computation)."""
    either = intervals.union(np.concatenate([comm[0], comp[0]]), np.concatenate([comm[1], comp[1]]))
    c, m, e = (temporal.timeline(*x, lo, hi) for x in (comp, comm, either))
    return [CommBin(start_us=a.start_us, end_us=a.end_us, compute_pct=a.busy_pct, communication_pct=b.busy_pct,
                    exposed_pct=max(0.0, u.busy_pct - a.busy_pct)) for a, b, u in zip(c, m, e)]


def _collectives(comm):
    """Collective entries of communication kernels with metadata, and a reason for the rest."""
    meta = comm["collective"].to_numpy() if "collective" in comm else np.full(len(comm), None)
    has = np.array([isinstance(m, dict) for m in meta], dtype=bool)
    groups = {}
    for m, dur in zip(meta[has], comm["dur"].to_numpy()[has]):
        key = (str(m.get("Collective name")), m.get("dtype"), m.get("Group size"))
        g = groups.setdefault(key, {"count": 0, "time": 0.0, "bytes": 0.0, "sized": True})
        g["count"] += 1
        g["time"] += float(dur)
        size = _message_bytes(m)
        if size is None:
            g["sized"] = False
        else:
            g["bytes"] += size
    out = [_entry(key, g) for key, g in groups.items()]
    out.sort(key=lambda c: -c.time_us)
    return out, _why_unlisted(comm, has)


def _why_unlisted(comm, has):
    """Why communication kernels have no collective entry, by what is actually missing: the
    launch call (then no op can carry the metadata), or the metadata on the op that launched them."""
    missing = ~has
    if not missing.any():
        return None
    no_launch = missing & (np.isnan(comm["launch_ts"].to_numpy(float)) if "launch_ts" in comm
                           else np.zeros(len(comm), bool))
    plain = missing & ~no_launch
    parts = []
    if no_launch.any():
        parts.append(f"{int(no_launch.sum())} have no launch call in the trace (their CPU side was not recorded), "
                     "so no op can carry their metadata")
    if plain.any():
        parts.append(f"{int(plain.sum())} were launched by ops that carry none of {_KEYS} (recent PyTorch "
                     "records them on record_param_comms for torch.distributed collectives; older releases, and "
                     "kernels launched another way such as symmetric-memory all-reduce, DeepEP or NVSHMEM ones, "
                     "do not)")
    unlisted_us = float(comm["dur"].to_numpy()[missing].sum())
    head = ("no collective metadata in the trace: of the " if not has.any() else
            f"{int(missing.sum())} of ")
    return f"{head}{len(comm)} communication kernels ({unlisted_us:.1f} µs unlisted), " + "; ".join(parts)


def _message_bytes(m):
    """nccl-tests' S for one call: the larger message (elements) times the element size."""
    size = SCALAR_NAME_BYTES.get(m.get("dtype"))
    counts = [v for v in (m.get("In msg nelems"), m.get("Out msg nelems")) if isinstance(v, (int, float))]
    if size is None or not counts:
        return None
    return float(max(counts) * size)


def _entry(key, g):
    name, dtype, n = key
    kind, factor = kind_of(name)
    nbytes = g["bytes"] if g["sized"] else None
    algbw = nbytes / g["time"] / 1e3 if nbytes is not None and g["time"] > 0 else None  # bytes/µs -> GB/s
    busbw = None
    if algbw is not None and factor is not None and isinstance(n, int) and n > 0:
        busbw = algbw * factor(n)
    return Collective(name=name, dtype=dtype, group_size=n if isinstance(n, int) else None, count=g["count"],
                      bytes=nbytes, time_us=g["time"], algbw_gbs=algbw, busbw_gbs=busbw, kind=kind)
