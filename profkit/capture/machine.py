"""The machine's load around a timed measurement: load average, CPUs, CPU steal, and the CPU
time other processes took.

Read from the OS (os.getloadavg, /proc/stat on Linux, os.times); the verdicts drawn from
them live in profkit.common.noise (timings) and profkit.common.hardware (peaks).
"""

import os
import time


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


class Competition:
    """The share of all CPU time that other processes used between `start` and `others_pct`.

    /proc/stat counts every CPU's busy time (all but idle and iowait); this process's own
    user + system time (os.times: all its threads, and the children it waited for) is taken
    off. Unlike the 1-minute load average, which trails by a minute and counts this process's
    own recent work, it says what competed with a measurement while it ran.
    """

    def start(self):
        self._stat, self._own = _cpu_stat(), _own_seconds()
        return self

    def others_pct(self):
        """Other processes' share of all CPU time (%) since `start`, or None where /proc/stat is absent."""
        after = _cpu_stat()
        if self._stat is None or after is None or len(after) < 8:
            return None
        delta = [b - a for a, b in zip(self._stat[:8], after[:8])]
        total = sum(delta)
        if total <= 0:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy_s = (total - delta[3] - delta[4]) / tick  # idle and iowait are not busy
        others_s = max(0.0, busy_s - (_own_seconds() - self._own))
        return round(min(100.0, 100.0 * others_s / (total / tick)), 1)


def others_busy_now(seconds=1.0):
    """Other processes' share of all CPU time (%) over the next `seconds`, while this one sleeps."""
    probe = Competition().start()
    time.sleep(seconds)
    return probe.others_pct()


def _own_seconds():
    """CPU seconds of this process (all its threads) and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


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
