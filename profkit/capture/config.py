"""CaptureConfig: every setting of one capture, carried from the CLI through capture and sweep to the sidecar.

No torch here: the CLI and the sweep grid build and check configs before anything
heavy is imported.
"""

from dataclasses import dataclass
from pathlib import Path

from profkit.common.dtypes import DTYPE_BYTES
from profkit.errors import ProfkitError


@dataclass(frozen=True)
class CaptureConfig:
    """One capture's settings (like gpt-fast's ModelArgs for a model).

    model: a built-in name or a local path; mode: one of eager, compiled, cudagraph
    (the CLI expands "all" and comma lists into one config per mode); device: auto,
    cpu or cuda. kv_groups: query heads per K/V head, None for the model's own.
    With profile=False nothing is written: only the un-profiled timing pass runs.
    """

    model: str = "gpt2"
    mode: str = "eager"
    device: str = "auto"
    batch: int = 1
    prompt_len: int = 128
    new_tokens: int = 32
    dtype: str = "float32"
    warmup: int = 2
    steps: int = 3
    seed: int = 0
    kv_groups: int | None = None
    out_dir: Path = Path("traces")
    profile: bool = True

    # The settings the sidecar records at its top level (what analysis reads back).
    SIDECAR_KEYS = ("dtype", "batch", "prompt_len", "new_tokens", "warmup", "steps", "seed")

    def check(self):
        """Refuse impossible numbers and names; model limits are checked against the model (check_shape)."""
        for flag, value, least in (("--batch", self.batch, 1), ("--prompt-len", self.prompt_len, 1),
                                   ("--new-tokens", self.new_tokens, 1), ("--steps", self.steps, 1),
                                   ("--warmup", self.warmup, 0)):
            if value < least:
                raise ProfkitError(f"{flag} must be at least {least} (got {value})")
        if self.kv_groups is not None and self.kv_groups < 1:
            raise ProfkitError(f"--kv-groups must be at least 1 (got {self.kv_groups})")
        if self.dtype not in DTYPE_BYTES:
            raise ProfkitError(f"unknown dtype '{self.dtype}'; choose {', '.join(DTYPE_BYTES)}")
        return self

    @property
    def positions(self):
        """Tokens a sequence holds at the end of a generation (the KV cache's length)."""
        return self.prompt_len + self.new_tokens

    def sidecar_settings(self):
        return {k: getattr(self, k) for k in self.SIDECAR_KEYS}
