"""Peak FLOP/s and memory bandwidth of the device a trace ran on.

GPU peaks come from hardware.json (vendor datasheets, one source per entry), matched
from the trace's deviceProperties name. CPU peaks come from `profkit calibrate`
(measured on this machine). Users can override either with --peak-bw / --peak-tflops.
"""

import json
import platform
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from profkit.errors import ProfkitError
from profkit.common.paths import user_cache_dir

CPU_NAME = "cpu (calibrated)"
NO_CALIBRATION = "no CPU calibration found; run `profkit calibrate`"
# Peaks measured while other processes took more than this share of all CPU time had other
# work competing for cores and memory bandwidth: provisional. Where the OS does not say (no
# /proc/stat), a 1-minute load average of at least BUSY_LOAD_PER_CPU per CPU stands in.
BUSY_OTHERS_PCT = 10.0
BUSY_LOAD_PER_CPU = 0.5
RECALIBRATE = ("the next CPU capture that finds the machine quiet measures them again "
               "(or run `profkit calibrate` on an idle machine)")

# Kineto dtype names (and torch names) -> the precision key of a peak.
_PRECISION = {"float": "fp32", "float32": "fp32", "c10::Half": "fp16", "float16": "fp16",
              "half": "fp16", "c10::BFloat16": "bf16", "bfloat16": "bf16",
              "c10::Float8_e4m3fn": "fp8", "c10::Float8_e5m2": "fp8",
              "c10::Float8_e4m3fnuz": "fp8", "c10::Float8_e5m2fnuz": "fp8"}


def _real(v):
    return None if v is None else float(v)


@dataclass(frozen=True)
class Device:
    """Peaks of one device: bandwidth in GB/s, TFLOP/s per precision (None = none),
    and the L2 cache size in MiB (None = unknown) with its source."""

    name: str
    bandwidth_gbs: float | None
    tflops: dict = field(default_factory=dict)
    source: str = ""
    note: str = ""
    key: str = ""
    l2_mb: float | None = None
    l2_source: str = ""

    def __post_init__(self):
        # The table writes whole numbers (3350 GB/s); peaks are floats wherever they are read or written.
        object.__setattr__(self, "bandwidth_gbs", _real(self.bandwidth_gbs))
        object.__setattr__(self, "tflops", {k: _real(v) for k, v in self.tflops.items()})
        object.__setattr__(self, "l2_mb", _real(self.l2_mb))

    def peak_tflops(self, dtype):
        """Peak TFLOP/s for ops on this dtype (Kineto or torch spelling), or None.

        float32 uses the non-tensor FP32 peak: PyTorch does not use TF32 for matmuls
        unless torch.backends.cuda.matmul.allow_tf32 is set (off since 1.12).
        """
        return self.tflops.get(_PRECISION.get(str(dtype)))

    def with_overrides(self, peak_bw=None, peak_tflops=None):
        """A copy with user-given peaks (GB/s; TFLOP/s applied to every precision)."""
        dev = self
        if peak_bw is not None:
            dev = replace(dev, bandwidth_gbs=float(peak_bw), note=_join(dev.note, "bandwidth from --peak-bw"))
        if peak_tflops is not None:
            dev = replace(dev, tflops=dict.fromkeys(("fp32", "tf32", "fp16", "bf16", "fp8"), float(peak_tflops)),
                          note=_join(dev.note, "TFLOP/s from --peak-tflops"))
        return dev


def _join(a, b):
    return f"{a}; {b}" if a else b


@lru_cache(maxsize=1)
def _table():
    data = json.loads((Path(__file__).with_name("hardware.json")).read_text())
    return tuple(data["devices"])


def devices():
    """Every known GPU as a Device, in table order."""
    return [_device(e) for e in _table()]


def _device(e, note=""):
    return Device(name=e["name"], bandwidth_gbs=e["bandwidth_gbs"], tflops=dict(e["tflops"]),
                  source=e["source"], note=_join(e.get("note", ""), note) if note else e.get("note", ""),
                  key=e["key"], l2_mb=e.get("l2_mb"), l2_source=e.get("l2_source", ""))


def _when(cond, props):
    """True / False when the properties decide the condition, None when they cannot."""
    if not cond:
        return None
    sms, mem = props.get("numSms"), props.get("totalGlobalMem")
    verdicts = []
    if "sms" in cond:
        verdicts.append(None if not isinstance(sms, int) else sms in cond["sms"])
    if "max_mem_gib" in cond:
        verdicts.append(None if not isinstance(mem, (int, float)) else mem / 2**30 <= cond["max_mem_gib"])
    if False in verdicts:
        return False
    return True if verdicts and all(verdicts) else None


def match_device(name, props=None):
    """The Device for a deviceProperties name (and its properties), or None.

    A name matching the first pattern of an entry beats one matching a generic
    pattern; numSms / totalGlobalMem settle names shared by several parts (a bare
    "NVIDIA H100", "A100-PG509-200", ROCm's "AMD Radeon Graphics"). When they cannot,
    the name is ambiguous and the answer is None rather than a guess.
    """
    if not name:
        return None
    low, props = str(name).strip().lower(), props or {}
    scored = []
    for e in _table():
        hits = [i for i, pat in enumerate(e["match"]) if re.search(pat, low)]
        if not hits:
            continue
        verdict = _when(e.get("when"), props)
        if verdict is False:
            continue
        scored.append(((2 if hits[0] == 0 else 1) + (2 if verdict else 0), e))
    if not scored:
        return None
    best = max(s for s, _ in scored)
    top = [e for s, e in scored if s == best]
    if len(top) > 1:
        return None
    return _device(top[0], note=f"matched from device name {name!r}")


def default_calibration():
    """Where `profkit calibrate` saves and captures look for this machine's peaks."""
    return user_cache_dir() / "calibration.json"


def cpu_model():
    """This machine's CPU model name (what a calibration is valid for)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def is_busy(others_pct, load_avg, cpus):
    """Whether peaks measured with this competition are provisional (BUSY_OTHERS_PCT)."""
    if others_pct is not None:
        return others_pct > BUSY_OTHERS_PCT
    return load_avg is not None and bool(cpus) and load_avg >= BUSY_LOAD_PER_CPU * cpus


def load_condition(load):
    """'measured under load (<what competed>)' for peaks measured under load ({load_avg, cpus,
    others_pct, busy}), else ""."""
    if not isinstance(load, dict) or not load.get("busy"):
        return ""
    others = load.get("others_pct")
    what = [f"other processes took {others:.0f}% of the CPU time"] if others is not None else []
    if load.get("load_avg") is not None:
        what.append(f"load average {load['load_avg']:.2f} on {load.get('cpus', '?')} CPUs")
    return f"measured under load ({'; '.join(what)})"


def load_note(load):
    """The warning for peaks measured under load (load_condition, and what to do), else ""."""
    condition = load_condition(load)
    return f"{condition}: the peaks may be low; {RECALIBRATE}" if condition else ""


def calibrated_device(data, where):
    """The CPU Device of a calibration dict (a `profkit calibrate` file, or a sidecar's peaks)."""
    return Device(name=CPU_NAME, bandwidth_gbs=float(data["bandwidth_gbs"]),
                  tflops={k: (None if v is None else float(v)) for k, v in data["tflops"].items()},
                  source=f"profkit calibrate, {data.get('date', '?')}, {data.get('cpu', '?')} ({where})",
                  note=load_note(data.get("load")), key="cpu")


def load_calibration(path=None):
    """The calibrated CPU Device, or None when no calibration file exists."""
    path = Path(path or default_calibration()).expanduser()
    if not path.is_file():
        return None
    try:
        return calibrated_device(json.loads(path.read_text()), path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ProfkitError(f"{path}: unreadable calibration file ({e}); run `profkit calibrate` again") from None


def recorded_device(peaks):
    """The calibrated CPU Device of the peaks a capture recorded (its sidecar's "peaks" as a dict), or None."""
    if not isinstance(peaks, dict) or peaks.get("device") != CPU_NAME:
        return None
    try:
        return calibrated_device(peaks, f"recorded by the capture, {peaks.get('origin', '?')}")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ProfkitError(f"the capture's recorded peaks are unreadable ({e})") from None


def trace_device(trace, peak_bw=None, peak_tflops=None, calibration=None, recorded=None):
    """(Device or None, reason) for a Trace: the matched GPU, or calibrated CPU peaks.

    CPU peaks come from the `calibration` file when one is named, else from the
    peaks the capture `recorded` (its sidecar's "peaks" dict), else from the user cache.
    `reason` says why peaks are unavailable (None when a Device is returned).
    Overrides apply on top of a match, or stand alone for unknown devices.
    """
    if trace.has_gpu:
        props = trace.device_properties
        used = sorted({int(d) for d in trace.gpu["device"].unique() if d >= 0})
        chosen = next((p for p in props if p.get("id") in used), props[0] if props else {})
        name = chosen.get("name")
        dev = match_device(name, chosen)
        reason = (None if dev else f"unknown device {name!r}" if name
                  else "the trace records no device name")
    elif trace.device_properties or len(trace.runtime):
        # A GPU run whose kernels were not recorded: its CPU op times are launch
        # costs, so no peak (CPU or GPU) turns them into an efficiency.
        return None, "the trace records a GPU run but no GPU activity; CPU op times are not kernel times"
    else:
        dev = (calibration is None and recorded_device(recorded)) or load_calibration(calibration)
        reason = None if dev else NO_CALIBRATION
        name = CPU_NAME
    if dev is None and (peak_bw is not None or peak_tflops is not None):
        dev = Device(name=f"{name or 'device'} (user peaks)", bandwidth_gbs=None, tflops={},
                     source="command-line overrides")
    if dev is None:
        return None, reason + "; pass --peak-bw GB/s and --peak-tflops TFLOP/s to set peaks"
    return dev.with_overrides(peak_bw, peak_tflops), None


def lookup(text, calibration=None):
    """A Device the user names (`profkit roofline --device`): "cpu" (the calibration), a table key
    such as h100-sxm, or words of a name such as "H100" or "rtx 4090".

    Several entries matching the words give the first in table order (the table lists
    the common part first, e.g. H100 SXM before PCIe and NVL); the others are named in
    the Device's note.
    """
    low = " ".join(str(text).lower().split())
    if low == "cpu":
        dev = load_calibration(calibration)
        if dev is None:
            raise ProfkitError(NO_CALIBRATION)
        return dev
    table = _table()
    exact = [e for e in table if e["key"] == low or e["name"].lower() == low]
    if exact:
        return _device(exact[0])
    words = low.replace("nvidia", "").replace("geforce", "").split()
    hits = [e for e in table if words and all(w in f"{e['key']} {e['name'].lower()}" for w in words)]
    if not hits:
        raise ProfkitError(f"unknown device {text!r}; use a key from hardware.json such as "
                           f"{', '.join(e['key'] for e in table[:4])}, ... or cpu (calibrated)")
    others = [e["key"] for e in hits[1:]]
    note = f"--device {text!r} also matches {', '.join(others)}" if others else ""
    return replace(_device(hits[0]), note=note)
