"""Decoder models by name or local path, built without any network access.

Built-in names come from profkit.common.models.BUILTIN (published configs, random
weights); a path is a config.json or checkpoint directory of a GPT-2, Llama, Qwen2
or Mistral causal LM.
"""

import copy
import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, MistralConfig, Qwen2Config

from profkit.common.models import BUILTIN, ModelShape, read_config_json
from profkit.common.dtypes import DTYPE_BYTES
from profkit.capture.kvgroups import check_groups, group_kv_heads
from profkit.capture.memory import available_memory
from profkit.errors import OutOfMemory, ProfkitError

CONFIG_CLASSES = {"gpt2": GPT2Config, "llama": LlamaConfig, "qwen2": Qwen2Config, "mistral": MistralConfig}
ARCHITECTURES = ("GPT2LMHeadModel", "LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM")

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
    config: transformers.PretrainedConfig  # GPT2Config, LlamaConfig, Qwen2Config or MistralConfig
    weights: Path | None  # checkpoint directory with weights, else random init
    kv_groups: int = 1  # GPT-2 only: converted to G query heads per K/V head (profkit.capture.kvgroups)

    @property
    def family(self):
        return self.config.model_type

    @property
    def shape(self):
        """The torch-free shape the roofline model and memory check use."""
        groups = self.kv_groups if self.family == "gpt2" else None
        return ModelShape.from_config(self.config.to_dict(), kv_groups=groups)


def with_kv_groups(spec, groups):
    """The spec with G query heads per K/V head; None keeps the model's own.

    GPT-2's K/V heads are mean-pooled at build time; a Llama-family config simply
    gets n_head / G K/V heads (random weights only: trained K/V weights have their
    own head count). The name gets a "-kv{G}" suffix so traces of different G stay apart.
    """
    if groups is None or groups == spec.shape.kv_groups:
        return spec
    check_groups(spec.config.num_attention_heads, groups, spec.name)
    name = f"{spec.name}-kv{groups}"
    if spec.family == "gpt2":
        return replace(spec, name=name, kv_groups=groups)
    if spec.weights is not None:
        raise ProfkitError(f"--kv-groups {groups}: {spec.name}'s trained weights have "
                           f"{spec.config.num_key_value_heads} K/V heads; other G need random weights")
    config = copy.deepcopy(spec.config)
    config.num_key_value_heads = config.num_attention_heads // groups
    return replace(spec, name=name, config=config, kv_groups=groups)


def builtin_config(name):
    return _make_config(copy.deepcopy(BUILTIN[name][3]), name)


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
    config = _read_config(config_file, spec)
    return ModelSpec(safe_name(name), str(path), config, path if has_weights else None)


def _read_config(config_file, spec):
    raw = read_config_json(config_file, spec)
    if raw.get("model_type") not in CONFIG_CLASSES:
        raise ProfkitError(
            f"{spec} has model_type {raw.get('model_type')!r}; profkit capture supports "
            f"{', '.join(CONFIG_CLASSES)} ({', '.join(ARCHITECTURES)})"
        )
    return _make_config(raw, spec)


def _make_config(raw, spec):
    """The transformers config of a config.json dict, its shape checked."""
    try:
        config = CONFIG_CLASSES[raw["model_type"]].from_dict(raw)
    except (TypeError, ValueError, KeyError) as e:
        raise ProfkitError(f"{spec} is not a valid {raw['model_type']} config: {e}") from None
    if config.model_type == "gpt2" and config.n_embd % config.n_head:
        raise ProfkitError(f"{spec}: n_embd {config.n_embd} is not divisible by n_head {config.n_head}")
    ModelShape.from_config(config.to_dict())  # refuses sizes the analysis cannot use
    return config


def safe_name(name):
    """Model name usable in a file name on any OS."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def check_fits(spec, cfg, dev):
    """Refuse, before building, a model whose weights and KV cache exceed the memory available."""
    b = DTYPE_BYTES[cfg.dtype]
    shape = spec.shape
    weights = shape.params()["total"] * b
    kv = cfg.batch * cfg.positions * shape.kv_bytes_per_token(b)
    free, where = available_memory(dev)
    if free is not None and weights + kv > free:
        raise OutOfMemory(f"{spec.name} needs {(weights + kv) / 1e9:.1f} GB in {cfg.dtype} (weights "
                          f"{weights / 1e9:.1f} GB + KV cache {kv / 1e9:.1f} GB) but {where} has "
                          f"{free / 1e9:.1f} GB available")


def build_model(spec, dtype, device, seed):
    """The causal-LM in eval mode on `device`; random weights come from `seed`."""
    torch.manual_seed(seed)
    kwargs = {"dtype": DTYPES[dtype], "attn_implementation": "sdpa"}
    if spec.weights is not None:
        try:
            model = AutoModelForCausalLM.from_pretrained(spec.weights, local_files_only=True, **kwargs)
        except (OSError, ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ProfkitError(f"cannot load weights from {spec.weights}: {first}") from None
    else:
        # from_config writes dtype/attention choices into the config: keep the spec's pristine.
        model = AutoModelForCausalLM.from_config(copy.deepcopy(spec.config), **kwargs)
    if spec.family == "gpt2" and spec.kv_groups > 1:
        group_kv_heads(model, spec.kv_groups)
    return model.to(device).eval()


def describe(spec, model):
    """The sidecar's "model" entry: name, source, the ModelShape fields, G and the counted parameters."""
    return {"name": spec.name, "source": spec.source, **spec.shape.to_dict(), "kv_groups": spec.shape.kv_groups,
            "params": sum(p.numel() for p in model.parameters())}
