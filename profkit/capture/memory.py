"""Peak memory of one timing pass: CUDA allocator peak, or the process RSS high-water mark."""

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
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024, "rss_hwm"
    except OSError:
        pass
    # No /proc: the lifetime peak (kilobytes on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak if sys.platform == "darwin" else peak * 1024), "rss_hwm"
