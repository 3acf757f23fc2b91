"""Memory: the peak of one timing pass (CUDA allocator peak or process RSS high-water mark), and what is free."""

import os
import resource
import sys

import torch


def reset_peak_memory(dev):
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        return
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so the peak
    # belongs to this pass, not to whatever the process did before (another mode).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory(dev):
    """(bytes, kind): kind is "cuda_max_allocated" or "rss_hwm"."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev), "cuda_max_allocated"
    hwm = _proc_kib("/proc/self/status", "VmHWM:")
    if hwm is not None:
        return hwm * 1024, "rss_hwm"
    # No /proc: the lifetime peak (kilobytes on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak if sys.platform == "darwin" else peak * 1024), "rss_hwm"


def available_memory(dev):
    """(bytes free, what) on the device: CUDA free memory, or the host's MemAvailable; None if unknown."""
    if dev.type == "cuda":
        return torch.cuda.mem_get_info(dev)[0], "the GPU"
    free = _proc_kib("/proc/meminfo", "MemAvailable:")
    if free is not None:
        return free * 1024, "this machine"
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine"
    except (ValueError, OSError):
        return None, "this machine"


def _proc_kib(path, key):
    """The kB value of `key` in a /proc file such as /proc/meminfo, or None without /proc."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
