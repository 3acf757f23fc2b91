"""Decoder shapes: the built-in model table and the shape of any supported config (no torch).

BUILTIN is profkit's table of models by name (like gpt-fast's transformer_configs):
each entry holds the values of the model's published config.json, its source, and
its published parameter count. `profkit capture` builds these with random weights
from transformers' config classes; `profkit roofline` and the analysis only need
their ModelShape.

Families (the config's model_type):
- gpt2: LayerNorm (weight and bias), learned positions, biases on every linear,
  a two-matrix GELU MLP, lm_head tied to the token embedding.
- llama, mistral: RMSNorm (weight only), rotary positions, no biases, a
  three-matrix SwiGLU MLP (gate, up, down), grouped K/V heads.
- qwen2: as llama, plus biases on the Q, K and V projections.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from profkit.errors import ProfkitError

FAMILIES = ("gpt2", "llama", "qwen2", "mistral")

_GPT2_CARD = "https://huggingface.co/openai-community/{}/blob/main/config.json"
_LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}


def _gpt2(n_layer, n_head, n_embd):
    return {"model_type": "gpt2", "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd,
            "vocab_size": 50257, "n_positions": 1024}


# name -> (source, published parameters, where that count is published, config.json values).
# The exact counts are the Hub's safetensors totals (the "Model size" on each model
# page); tests recompute each one by hand and from a transformers model.
BUILTIN = {
    "gpt2": (_GPT2_CARD.format("gpt2"), 124_439_808, "OpenAI's '124M' (gpt-2 repository, download_model.py)",
             _gpt2(12, 12, 768)),
    "gpt2-medium": (_GPT2_CARD.format("gpt2-medium"), 354_823_168, "OpenAI's '355M'", _gpt2(24, 16, 1024)),
    "gpt2-large": (_GPT2_CARD.format("gpt2-large"), 774_030_080, "OpenAI's '774M'", _gpt2(36, 20, 1280)),
    "gpt2-xl": (_GPT2_CARD.format("gpt2-xl"), 1_557_611_200, "OpenAI's '1558M'", _gpt2(48, 25, 1600)),
    "llama-3.2-1b": (
        "https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json", 1_235_814_400,
        "model card: 1.23B parameters",
        {"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
         "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
         "rope_theta": 500000.0, "rope_scaling": _LLAMA3_ROPE, "max_position_embeddings": 131072,
         "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": 128001}),
    "llama-3.2-3b": (
        "https://huggingface.co/meta-llama/Llama-3.2-3B/blob/main/config.json", 3_212_749_824,
        "model card: 3.21B parameters",
        {"model_type": "llama", "vocab_size": 128256, "hidden_size": 3072, "intermediate_size": 8192,
         "num_hidden_layers": 28, "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128,
         "rope_theta": 500000.0, "rope_scaling": _LLAMA3_ROPE, "max_position_embeddings": 131072,
         "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": 128001}),
    "qwen2.5-0.5b": (
        "https://huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json", 494_032_768,
        "model card: 0.49B parameters, 0.36B non-embedding",
        {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
         "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
         "rope_theta": 1000000.0, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
         "tie_word_embeddings": True, "bos_token_id": 151643, "eos_token_id": 151643}),
    "qwen2.5-1.5b": (
        "https://huggingface.co/Qwen/Qwen2.5-1.5B/blob/main/config.json", 1_543_714_304,
        "model card: 1.54B parameters, 1.31B non-embedding",
        {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
         "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
         "rope_theta": 1000000.0, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
         "tie_word_embeddings": True, "bos_token_id": 151643, "eos_token_id": 151643}),
    "tinyllama-1.1b": (
        "https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0/blob/main/config.json", 1_100_048_384,
        "model card: 1.1B parameters",
        {"model_type": "llama", "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
         "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
         "rope_theta": 10000.0, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
         "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}),
    "mistral-7b": (
        "https://huggingface.co/mistralai/Mistral-7B-v0.3/blob/main/config.json", 7_248_023_552,
        "model card (Mistral-7B-v0.3): 7.25B parameters",
        {"model_type": "mistral", "vocab_size": 32768, "hidden_size": 4096, "intermediate_size": 14336,
         "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
         "rope_theta": 1000000.0, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
         "sliding_window": None, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}),
}


@dataclass(frozen=True)
class ModelShape:
    """What the analytical model needs of a decoder; the sidecar's "model" entry holds these fields.

    n_embd is the hidden size (GPT-2's name, kept so older sidecars read the same).
    """

    family: str
    n_layer: int
    n_embd: int
    n_head: int
    n_kv_head: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    n_positions: int
    tie_word_embeddings: bool

    @classmethod
    def from_config(cls, c, kv_groups=None):
        """From a config.json dict of a supported family. kv_groups: GPT-2 converted to G query heads per K/V head."""
        family = c.get("model_type")
        if family not in FAMILIES:
            raise ProfkitError(f"model_type {family!r} is not supported; profkit knows {', '.join(FAMILIES)}")
        try:
            if family == "gpt2":
                h, heads = c["n_embd"], c["n_head"]
                inner = c.get("n_inner") or 4 * h
                shape = cls(family=family, n_layer=c["n_layer"], n_embd=h, n_head=heads,
                            n_kv_head=heads // (kv_groups or 1), head_dim=h // heads, intermediate_size=inner,
                            vocab_size=c["vocab_size"], n_positions=c["n_positions"], tie_word_embeddings=True)
            else:
                h, heads = c["hidden_size"], c["num_attention_heads"]
                kv = c.get("num_key_value_heads") or heads
                shape = cls(family=family, n_layer=c["num_hidden_layers"], n_embd=h, n_head=heads, n_kv_head=kv,
                            head_dim=c.get("head_dim") or h // heads, intermediate_size=c["intermediate_size"],
                            vocab_size=c["vocab_size"], n_positions=c["max_position_embeddings"],
                            tie_word_embeddings=bool(c.get("tie_word_embeddings", True)))
        except (KeyError, TypeError, ZeroDivisionError) as e:
            raise ProfkitError(f"incomplete {family} config ({type(e).__name__}: {e})") from None
        return shape.checked()

    @classmethod
    def from_sidecar(cls, m):
        """From a capture sidecar's "model" entry; older GPT-2 sidecars lack the fields GPT-2 implies."""
        def need(key):
            if not isinstance(m, dict) or m.get(key) is None:
                raise ProfkitError(f"capture metadata lacks model.{key}")
            return m[key]

        family = m.get("family", "gpt2") if isinstance(m, dict) else "gpt2"
        L, h, heads = need("n_layer"), need("n_embd"), need("n_head")
        V, P = need("vocab_size"), need("n_positions")
        if family not in FAMILIES:
            raise ProfkitError(f"capture metadata has an unknown model family {family!r}")
        try:
            kv = m.get("n_kv_head") or heads // (m.get("kv_groups") or 1)
            shape = cls(family=family, n_layer=L, n_embd=h, n_head=heads, n_kv_head=kv,
                        head_dim=m.get("head_dim") or h // heads, intermediate_size=m.get("intermediate_size") or 4 * h,
                        vocab_size=V, n_positions=P, tie_word_embeddings=bool(m.get("tie_word_embeddings", True)))
        except (TypeError, ZeroDivisionError):
            raise ProfkitError("capture metadata has a malformed model entry") from None
        return shape.checked()

    def checked(self):
        ints = [v for k, v in asdict(self).items() if k not in ("family", "tie_word_embeddings")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ints):
            raise ProfkitError(f"model sizes must be positive whole numbers: {asdict(self)}")
        if self.n_head % self.n_kv_head:
            raise ProfkitError(f"{self.n_kv_head} K/V heads do not divide {self.n_head} attention heads")
        return self

    @property
    def kv_groups(self):
        """G: query heads per K/V head (1 = multi-head attention, n_head = multi-query)."""
        return self.n_head // self.n_kv_head

    @property
    def gpt2(self):
        return self.family == "gpt2"

    def to_dict(self):
        return asdict(self)

    def layer_matmul_weights(self):
        """Weights of one layer's matrix products, each multiplied once per token (2 FLOPs each)."""
        q, kv = self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        attention = self.n_embd * (q + 2 * kv) + q * self.n_embd
        mlp = (2 if self.gpt2 else 3) * self.n_embd * self.intermediate_size
        return attention + mlp

    def params(self):
        """Exact parameter counts of the transformers model (tied weights counted once)."""
        h, q, kv = self.n_embd, self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        if self.gpt2:
            # biases on Q, K, V, output, both MLP matrices; LayerNorms have weight and bias
            biases = q + 2 * kv + h + self.intermediate_size + h
            norms, final_norm = 4 * h, 2 * h
        else:
            biases = q + 2 * kv if self.family == "qwen2" else 0
            norms, final_norm = 2 * h, h
        per_layer = self.layer_matmul_weights() + biases + norms
        embedding = self.vocab_size * h + (self.n_positions * h if self.gpt2 else 0)
        lm_head = 0 if self.tie_word_embeddings else self.vocab_size * h
        total = embedding + self.n_layer * per_layer + final_norm + lm_head
        return {"total": total, "embedding": embedding, "lm_head": lm_head,
                "non_embedding": total - embedding - lm_head, "per_layer": per_layer}

    def kv_bytes_per_token(self, dtype_bytes):
        """K and V of one token in every layer."""
        return 2 * self.n_layer * self.n_kv_head * self.head_dim * dtype_bytes


def builtin_shape(name):
    return ModelShape.from_config(BUILTIN[name][3])


def shape_of(model):
    """The shape of a built-in name, a config.json or a checkpoint directory holding one."""
    if model in BUILTIN:
        return builtin_shape(model)
    path = Path(model).expanduser()
    config = path / "config.json" if path.is_dir() else path
    if not config.is_file():
        raise ProfkitError(f"unknown model '{model}'; choose {', '.join(BUILTIN)}, or a config.json or "
                           "checkpoint directory")
    return ModelShape.from_config(read_config_json(config, model))


def read_config_json(path, spec):
    """The dict of a config.json file; `spec` is how the user named it (for messages)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProfkitError(f"{spec} is not a readable config.json ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise ProfkitError(f"{spec} is not a model config (expected a JSON object)")
    return raw
