"""A sweep's grid: the cartesian product of its axes, fully checked before anything runs."""

import itertools
from dataclasses import dataclass, field

from profkit.capture.config import CaptureConfig
from profkit.capture.models import DTYPES, resolve_model, with_kv_groups
from profkit.capture.modes import resolve_device, resolve_modes
from profkit.capture.run import check_args, device_info
from profkit.capture.sdpa import MODES as SDPA_MODES
from profkit.capture.sdpa import check_sdpa
from profkit.errors import ProfkitError

WORKLOADS = ("gpt2", "sdpa")
# Defaults per workload (CLI options arrive as None when the user did not give them).
# kv_groups None: each model's own G (1 for GPT-2, 4 for Llama-3.2-1B, ...).
GPT2_DEFAULTS = {"models": "gpt2", "modes": "eager", "batches": "1", "prompt_lens": "128",
                 "kv_groups": None, "new_tokens": 32}
SDPA_DEFAULTS = {"modes": "eager", "batches": "8,32,128", "rows": "400,800,1200,1600,2000", "cols": "400"}
FLAGS = {"models": "--model", "modes": "--mode", "batches": "--batch", "prompt_lens": "--prompt-len",
         "kv_groups": "--kv-groups", "new_tokens": "--new-tokens", "rows": "--rows", "cols": "--cols",
         "profile": "--profile"}


@dataclass(frozen=True)
class Point:
    workload: str
    mode: str
    batch: int
    model: str = ""
    kv_groups: int = 1
    prompt_len: int = 0
    rows: int = 0
    cols: int = 0

    @property
    def key(self):
        """Identifies the point in results.csv; batch comes last (see `family`)."""
        if self.workload == "sdpa":
            return f"sdpa/{self.mode}/r{self.rows}/c{self.cols}/b{self.batch}"
        return f"{self.model}/g{self.kv_groups}/{self.mode}/s{self.prompt_len}/b{self.batch}"

    @property
    def family(self):
        """The points that differ from this one only in batch: an OOM here skips their larger batches."""
        return self.key.rsplit("/", 1)[0]

    @property
    def label(self):
        if self.workload == "sdpa":
            return f"sdpa {self.mode} {self.batch}x{self.rows}x{self.cols}"
        groups = f" kv-groups {self.kv_groups}" if self.kv_groups > 1 else ""
        return f"{self.model}{groups} {self.mode} b{self.batch} s{self.prompt_len}"


@dataclass
class Plan:
    workload: str
    device: object  # torch.device
    axes: dict
    settings: dict
    models: dict = field(default_factory=dict)  # name -> ModelSpec (gpt2 workload)
    points: list = field(default_factory=list)

    def identity(self):
        """What a resumed sweep must share with the one in the folder."""
        models = {n: {"source": s.source, "n_layer": s.shape.n_layer, "n_head": s.shape.n_head,
                      "n_embd": s.shape.n_embd} for n, s in self.models.items()}
        return {"workload": self.workload, "axes": self.axes, "settings": self.settings, "models": models}

    def capture_config(self, point, out_dir):
        """The CaptureConfig of a gpt2 point."""
        s = self.settings
        return CaptureConfig(model=point.model, mode=point.mode, device=self.device.type, batch=point.batch,
                             prompt_len=point.prompt_len, new_tokens=s["new_tokens"], dtype=s["dtype"],
                             warmup=s["warmup"], steps=s["steps"], seed=s["seed"], kv_groups=point.kv_groups,
                             out_dir=out_dir, profile=s["profile"])


def parse_ints(text, flag):
    """'1,4, 8' -> [1, 4, 8], sorted and without repeats (batches must ascend: see Point.family)."""
    values = []
    for part in str(text).split(","):
        try:
            values.append(int(part.strip()))
        except ValueError:
            raise ProfkitError(f"{flag} expects whole numbers separated by commas, got {text!r}") from None
    return sorted(set(values))


def parse_names(text, flag):
    names = [p.strip() for p in str(text).split(",")]
    if not all(names):
        raise ProfkitError(f"{flag} has an empty entry: {text!r}")
    return list(dict.fromkeys(names))


def make_plan(workload="gpt2", device="auto", dtype="float32", warmup=2, steps=3, seed=0, **options):
    """Check every option and every point, and return the Plan; nothing is run or built.

    `options` are the grid options as the user typed them (models, modes, batches,
    prompt_lens, kv_groups, new_tokens, rows, cols, profile), None when not given.
    """
    if workload not in WORKLOADS:
        raise ProfkitError(f"unknown workload '{workload}'; choose {' or '.join(WORKLOADS)}")
    defaults = GPT2_DEFAULTS if workload == "gpt2" else SDPA_DEFAULTS
    foreign = [FLAGS[k] for k, v in options.items() if v not in (None, False) and k not in defaults
               and not (k == "profile" and workload == "gpt2")]
    if foreign:
        raise ProfkitError(f"{', '.join(foreign)} {'does' if len(foreign) == 1 else 'do'} not apply to "
                           f"--workload {workload}")
    opts = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    if dtype not in DTYPES:
        raise ProfkitError(f"unknown dtype '{dtype}'; choose {', '.join(DTYPES)}")
    for flag, value, least in (("--warmup", warmup, 0), ("--steps", steps, 1)):
        if value < least:
            raise ProfkitError(f"{flag} must be at least {least} (got {value})")
    dev = resolve_device(device)
    info = device_info(dev)
    settings = {"dtype": dtype, "warmup": warmup, "steps": steps, "seed": seed,
                "device": info["type"], "device_name": info["name"]}
    batches = parse_ints(opts["batches"], "--batch")
    if workload == "sdpa":
        return _sdpa_plan(opts, dev, settings, batches)
    return _gpt2_plan(opts, dev, settings, batches)


def _gpt2_plan(opts, dev, settings, batches):
    modes = resolve_modes(opts["modes"], dev)
    specs = {}
    for name in parse_names(opts["models"], "--model"):
        spec = resolve_model(name)
        if spec.name in specs:
            raise ProfkitError(f"two --model entries are both named '{spec.name}'")
        specs[spec.name] = spec
    prompts = parse_ints(opts["prompt_lens"], "--prompt-len")
    given = parse_ints(opts["kv_groups"], "--kv-groups") if opts["kv_groups"] is not None else None
    groups = {}
    for name, spec in specs.items():
        groups[name] = given or [spec.shape.kv_groups]
        for g in groups[name]:
            with_kv_groups(spec, g)  # refuses a G that does not divide the heads, or trained K/V weights
    settings = {**settings, "new_tokens": opts["new_tokens"], "profile": bool(opts.get("profile"))}
    plan = Plan("gpt2", dev, {}, settings, specs)
    plan.points = [Point("gpt2", mode, b, model=m, kv_groups=g, prompt_len=s)
                   for m in specs for g, mode, s, b in itertools.product(groups[m], modes, prompts, batches)]
    for point in plan.points:
        check_args(specs[point.model], plan.capture_config(point, None))
    plan.axes = {"model": list(specs), "kv_groups": sorted({g for gs in groups.values() for g in gs}),
                 "mode": modes, "prompt_len": prompts, "batch": batches}
    return plan


def _sdpa_plan(opts, dev, settings, batches):
    modes = parse_names(opts["modes"], "--mode")
    for mode in modes:
        if mode not in SDPA_MODES:
            raise ProfkitError(f"--workload sdpa runs modes {' and '.join(SDPA_MODES)}, not '{mode}'")
    rows, cols = parse_ints(opts["rows"], "--rows"), parse_ints(opts["cols"], "--cols")
    for b, r, c in itertools.product(batches, rows, cols):
        check_sdpa(modes[0], b, r, c)
    points = [Point("sdpa", mode, b, rows=r, cols=c)
              for mode, r, c, b in itertools.product(modes, rows, cols, batches)]
    axes = {"mode": modes, "rows": rows, "cols": cols, "batch": batches}
    return Plan("sdpa", dev, axes, settings, {}, points)
