"""GPT-2 models by name or local path, built without any network access."""

import copy
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from profkit.capture.kvgroups import check_groups, group_kv_heads
from profkit.errors import ProfkitError

# name -> (n_layer, n_head, n_embd); vocab and context are the same for all four sizes.
BUILTIN = {
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
}
VOCAB_SIZE = 50257
N_POSITIONS = 1024

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# Files whose presence means "this directory holds trained weights".
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

# HF warnings and weight-loading progress bars would break the CLI's progress display.
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()


@dataclass
class ModelSpec:
    name: str  # used in output file names
    source: str  # "builtin" or the path given
    config: GPT2Config
    weights: Path | None  # checkpoint directory with weights, else random init
    kv_groups: int = 1  # G query heads per K/V head (profkit.capture.kvgroups); 1 = standard


def with_kv_groups(spec, groups):
    """The spec with G query heads per K/V head; None keeps the model's own.

    The name gets a "-kv{G}" suffix so traces of different G stay apart.
    """
    if groups is None or groups == spec.kv_groups:
        return spec
    check_groups(spec.config.num_attention_heads, groups, spec.name)
    return replace(spec, name=f"{spec.name}-kv{groups}", kv_groups=groups)


def builtin_config(name):
    n_layer, n_head, n_embd = BUILTIN[name]
    return GPT2Config(
        n_layer=n_layer, n_head=n_head, n_embd=n_embd, vocab_size=VOCAB_SIZE, n_positions=N_POSITIONS
    )


def resolve_model(spec):
    """Turn the --model argument into a ModelSpec; reads at most one config file."""
    if spec in BUILTIN:
        return ModelSpec(spec, "builtin", builtin_config(spec), None)
    path = Path(spec).expanduser()
    if not path.exists():
        if "/" in spec or spec.endswith(".json"):
            raise ProfkitError(f"{spec}: no such file or directory")
        names = ", ".join(BUILTIN)
        raise ProfkitError(
            f"unknown model '{spec}'; choose {names}, or a local checkpoint directory or config.json"
        )
    if path.is_dir():
        config_file, name = path / "config.json", path.resolve().name
        if not config_file.is_file():
            raise ProfkitError(f"{spec} is not a checkpoint directory (it has no config.json)")
        has_weights = any((path / f).is_file() for f in WEIGHT_FILES)
    else:
        # A bare config.json is named after its folder: "config" says nothing.
        config_file = path
        name = path.resolve().parent.name if path.name == "config.json" else path.stem
        has_weights = False
    config = _read_gpt2_config(config_file, spec)
    return ModelSpec(safe_name(name), str(path), config, path if has_weights else None)


def _read_gpt2_config(config_file, spec):
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProfkitError(f"{spec} is not a readable config.json ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise ProfkitError(f"{spec} is not a model config (expected a JSON object)")
    if raw.get("model_type") != "gpt2":
        raise ProfkitError(
            f"{spec} has model_type {raw.get('model_type')!r}; profkit capture supports GPT-2 configs only"
        )
    try:
        config = GPT2Config.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise ProfkitError(f"{spec} is not a valid GPT-2 config: {e}") from None
    if config.n_embd % config.n_head:
        raise ProfkitError(f"{spec}: n_embd {config.n_embd} is not divisible by n_head {config.n_head}")
    return config


def safe_name(name):
    """Model name usable in a file name on any OS."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def build_model(spec, dtype, device, seed):
    """The causal-LM in eval mode on `device`; random weights come from `seed`."""
    torch.manual_seed(seed)
    kwargs = {"dtype": DTYPES[dtype], "attn_implementation": "sdpa"}
    if spec.weights is not None:
        try:
            model = GPT2LMHeadModel.from_pretrained(spec.weights, local_files_only=True, **kwargs)
        except (OSError, ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ProfkitError(f"cannot load weights from {spec.weights}: {first}") from None
    else:
        # from_config writes dtype/attention choices into the config: keep the spec's pristine.
        model = AutoModelForCausalLM.from_config(copy.deepcopy(spec.config), **kwargs)
    if spec.kv_groups > 1:
        group_kv_heads(model, spec.kv_groups)
    return model.to(device).eval()


def describe(spec, model):
    """The sidecar's "model" entry."""
    c = model.config
    return {
        "name": spec.name,
        "source": spec.source,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "kv_groups": spec.kv_groups,
        "n_embd": c.n_embd,
        "n_positions": c.n_positions,
        "vocab_size": c.vocab_size,
        "params": sum(p.numel() for p in model.parameters()),
    }
