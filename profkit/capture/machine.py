"""The machine's load around a timed measurement: load average, CPUs, CPU steal.

Read from the OS (os.getloadavg, /proc/stat on Linux); the verdict drawn from
them lives in profkit.common.noise.
"""

import os


class LoadProbe:
    """Reads the load before the timed runs (`start`) and after (`stop`)."""

    def start(self):
        self.load_before = _loadavg()
        self._stat_before = _cpu_stat()
        return self

    def stop(self):
        self.load_after = _loadavg()
        self.steal_pct = _steal_pct(self._stat_before, _cpu_stat())
        return self

    @staticmethod
    def cpus():
        try:
            return len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return os.cpu_count()


def _loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every OS
        return None


def _cpu_stat():
    """The aggregate "cpu" line of /proc/stat as integers (jiffies), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    return [int(x) for x in fields[1:]]


def _steal_pct(before, after):
    """Share of CPU time stolen by the hypervisor between two /proc/stat reads.

    Steal is the 8th counter (index 7); kernels older than 2.6.11 do not report it.
    """
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    # guest time (index 8, 9) is already counted in user/nice: leave it out of the total
    total = sum(after[:8]) - sum(before[:8])
    if total <= 0:
        return None
    return round(100.0 * (after[7] - before[7]) / total, 2)
