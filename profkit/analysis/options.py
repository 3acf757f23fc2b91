"""The options of one analysis, as one typed object from the command line to the views."""

from dataclasses import dataclass
from pathlib import Path

WINDOWS = ("gpu", "steps", "hta")


@dataclass(frozen=True)
class AnalysisOptions:
    """What `profkit analyze` (and `report`, `sweep --profile`) was asked for.

    window: gpu (first to last GPU activity), steps (the ProfilerStep range) or hta
    (HTA's window: drops the last step). peak_bw (GB/s) / peak_tflops (TFLOP/s)
    override the device's peaks; calibration: a `profkit calibrate` file for CPU
    traces. every_gap: list every idle gap (gaps.all). top: kernels the terminal
    lists. jobs / dask / scheduler: how the ranks of a folder are analysed.
    rules: the user's classification rules (user_rules.load_rules, a tuple of
    classify.UserRule), tried before the built-in ones. whatif_against: a CUDA-graph
    (GPU) or compiled (CPU) run of the same workload to check the what-if prediction
    against (one trace only, not a folder of ranks).
    """

    window: str = "gpu"
    peak_bw: float | None = None
    peak_tflops: float | None = None
    calibration: Path | None = None
    every_gap: bool = False
    top: int = 10
    jobs: int = 1
    dask: bool = False
    scheduler: str | None = None
    rules: tuple = ()
    whatif_against: Path | None = None

    def __post_init__(self):
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, not {self.window!r}")

    @property
    def peaks(self):
        """Keyword arguments of hardware.trace_device / efficiency_summary."""
        return {"peak_bw": self.peak_bw, "peak_tflops": self.peak_tflops, "calibration": self.calibration}
