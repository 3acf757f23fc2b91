"""A whole distributed job: one trace per rank, summarised rank by rank.

Each rank is loaded and summarised on its own (serially, in worker processes,
or on Dask workers); only the small summaries travel back, never the traces.
The job view then aligns the ranks' clocks and names stragglers.
"""

import msgspec
import numpy as np

from profkit.analysis.options import AnalysisOptions
from profkit.analysis.result import Alignment, Job, Straggler, Stragglers
from profkit.errors import ProfkitError

# Straggler thresholds (stated in every result so a reader can check them).
LATE_START_FRACTION = 0.10  # of the median step time
SLOW_COMPUTE_FACTOR = 1.10  # x the median compute time
IDLE_MARGIN_PP = 10.0  # percentage points over the median idle share
COMM_WAIT_FRACTION = 0.5  # of the median exposed communication


def summarize_rank(path, options=None):
    """Load and summarise one trace (runs in a worker: return the Summary). A result kept
    from an earlier analysis of the unchanged trace is reused (profkit.analysis.result_cache)."""
    from profkit.analysis import result_cache as memo

    return memo.summary(path, options or AnalysisOptions())


def why_not_a_job(members):
    """Why these traces (or summaries: anything with `rank` and `world_size`, from distributedInfo)
    are not the ranks of one job, or None when they are.

    Ranks of one job say so: each trace records its rank in one world of the same size
    (torch.distributed writes distributedInfo into every rank's trace). Traces that do not,
    or that record different worlds, may come from different machines and days: aligning
    their clocks or naming stragglers among them would be invented.
    """
    n = len(members)
    if n < 2:
        return "a single trace"
    missing = sum(m.rank is None for m in members)
    if missing:
        return (f"{missing} of {n} traces record no distributed rank (no distributedInfo): nothing says they ran "
                "together")
    sizes = sorted({m.world_size for m in members} - {None})
    if len(sizes) > 1:
        return f"the traces record different world sizes ({', '.join(map(str, sizes))})"
    if sizes and max(m.rank for m in members) >= sizes[0]:
        return f"a rank is not below the world size {sizes[0]}"
    return None


def is_job(traces):
    """Several traces with distinct distributedInfo ranks of one world: ranks of one job, not runs to compare."""
    return why_not_a_job(traces) is None and len({t.rank for t in traces}) == len(traces)


def run(paths, options=None):
    """Summaries of every path, in order: serially, in options.jobs processes, or on Dask."""
    options = options or AnalysisOptions()
    if options.dask or options.scheduler:
        return _run_dask(paths, options)
    if options.jobs > 1 and len(paths) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=options.jobs) as pool:
            futures = [pool.submit(summarize_rank, p, options) for p in paths]
            return [f.result() for f in futures]
    return [summarize_rank(p, options) for p in paths]


def _run_dask(paths, options):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ProfkitError("--dask needs Dask: pip install 'profkit[dask]'") from None
    if options.scheduler:
        try:
            client = Client(options.scheduler, timeout="10s")
        except OSError as e:
            raise ProfkitError(f"cannot reach the Dask scheduler at {options.scheduler}: {e}") from None
        cluster = None
    else:
        # Loopback only, no dashboard: a local cluster must not open ports to the network.
        cluster = LocalCluster(n_workers=max(options.jobs, 2), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(summarize_rank, [str(p) for p in paths], [options] * len(paths), pure=False)
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def job(summaries, folder):
    """The Job: ranks (in rank order), clock alignment and stragglers."""
    ranks = [s if s.rank is not None else msgspec.structs.replace(s, rank=i)  # no distributedInfo: file order
             for i, s in enumerate(summaries)]
    ranks.sort(key=lambda s: s.rank)
    if len({s.rank for s in ranks}) != len(ranks):
        raise ProfkitError(f"{folder}: several traces claim the same rank; give each rank its own folder")
    alignment = align(ranks)
    return Job(schema_version=ranks[0].schema_version, folder=str(folder), world_size=_world(ranks), ranks=ranks,
               alignment=alignment, stragglers=stragglers(ranks, alignment))


def _world(ranks):
    sizes = {s.world_size for s in ranks} - {None}
    return sizes.pop() if len(sizes) == 1 else len(ranks)


def _step(summary, n):
    """(start, end) of ProfilerStep#n in a rank's own clock."""
    row = next(st for st in summary.steps.per_step if st.step == n)
    return row.range_start_us, row.range_start_us + row.range_dur_us


def align(ranks):
    """Clock offsets that put the ranks on one time line.

    Ranks leave a step together (its collectives synchronise them), so the end
    of the last ProfilerStep every rank has is the common reference; each
    rank's offset is its end minus the median end. Without a common step the
    first GPU activity is used, which is only right for ranks started together.
    """
    common = set.intersection(*[{st.step for st in s.steps.per_step} - {None} for s in ranks]) if ranks else set()
    n = max(common) if common else None
    if common:
        ends = np.array([_step(s, n)[1] for s in ranks])
        method = f"end of ProfilerStep#{n}, which the ranks leave together"
        starts = {s.rank: _step(s, n)[0] for s in ranks}
    else:
        ends = np.array([s.window_us.start for s in ranks])
        method = "first GPU activity (no ProfilerStep common to all ranks)"
        starts = {s.rank: s.window_us.start for s in ranks}
    offsets = ends - np.median(ends)
    return Alignment(
        method=method,
        offsets_us={s.rank: float(o) for s, o in zip(ranks, offsets)},
        max_skew_us=float(offsets.max() - offsets.min()) if len(offsets) else 0.0,
        step=n,
        aligned_step_start_us={r: float(starts[r] - off) for r, off in zip(starts, offsets)},
    )


def _comm_wait(ranks):
    """Exposed-communication imbalance. A collective ends on every rank only when the
    last one joins, so the ranks that arrive early sit in it, exposed; the rank the
    others wait for is the one with far less exposed communication than the rest."""
    exposed = np.array([s.communication.exposed_us if s.communication else 0.0 for s in ranks])
    med = float(np.median(exposed)) if len(exposed) else 0.0
    return [Straggler(rank=s.rank, rule="comm_wait", value_us=float(e),
                      why=f"exposed communication {e / 1e3:.2f} ms is under {COMM_WAIT_FRACTION:.0%} of the median "
                          f"rank's ({med / 1e3:.2f} ms; most {exposed.max() / 1e3:.2f} ms): the other ranks' "
                          "collectives wait for it")
            for s, e in zip(ranks, exposed) if med > 0 and e < COMM_WAIT_FRACTION * med]


def stragglers(ranks, alignment):
    """Ranks that hold the job back, each with the rule that named it."""
    out = []
    comp = np.array([s.temporal.compute_us for s in ranks])
    idle = np.array([s.temporal.idle_pct for s in ranks])
    starts = alignment.aligned_step_start_us
    if alignment.step is not None:
        spans = [_step(s, alignment.step) for s in ranks]
        steps = np.array([end - start for start, end in spans])
        typical = float(np.median(list(starts.values())))
        for s in ranks:
            late = starts[s.rank] - typical
            if late > LATE_START_FRACTION * np.median(steps):
                out.append(Straggler(rank=s.rank, rule="late_start", value_us=float(late),
                                     why=f"began ProfilerStep#{alignment.step} {late / 1e3:.2f} ms after the "
                                         f"median rank (> {LATE_START_FRACTION:.0%} of the median step time): "
                                         "the collectives wait for it"))
    med = float(np.median(comp))
    for s, c in zip(ranks, comp):
        if med > 0 and c > SLOW_COMPUTE_FACTOR * med:
            out.append(Straggler(rank=s.rank, rule="slow_compute", value_us=float(c),
                                 why=f"compute time {c / 1e3:.2f} ms is over {SLOW_COMPUTE_FACTOR}x the median "
                                     f"({med / 1e3:.2f} ms)"))
    med_idle = float(np.median(idle))
    for s, i in zip(ranks, idle):
        if i > med_idle + IDLE_MARGIN_PP:
            out.append(Straggler(rank=s.rank, rule="most_idle", value_pct=float(i),
                                 why=f"GPU idle {i:.1f}% is over {IDLE_MARGIN_PP:.0f} points above the median "
                                     f"({med_idle:.1f}%)"))
    out += _comm_wait(ranks)
    return Stragglers(
        rules={"late_start": f"aligned step start later than the median rank's by > {LATE_START_FRACTION:.0%} "
                             "of the median step time",
               "comm_wait": f"exposed communication < {COMM_WAIT_FRACTION:.0%} of the median rank's: the others "
                            "wait in their collectives for this rank",
               "slow_compute": f"compute (busy, non-memory, non-communication) time > {SLOW_COMPUTE_FACTOR}x "
                               "the median",
               "most_idle": f"GPU idle share > median + {IDLE_MARGIN_PP:.0f} percentage points"},
        ranks=out,
    )
