"""Synthetic prompts and greedy generation: prefill, then decode with a KV cache.

A decoder holds a model and its KV cache and offers three calls used by the
capture loop: reset() before each generation, prefill(prompt) -> first token,
decode(token, n) -> the next n tokens. Tokens never leave the device, so the
loop itself adds no host synchronisation.
"""

import inspect

import torch
from transformers import DynamicCache, StaticCache


def synthetic_prompt(batch, prompt_len, vocab_size, seed, device):
    """Uniform random token ids from a fixed seed: no tokenizer, no data files."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (batch, prompt_len), generator=gen).to(device)


def cache_keyword(model):
    """The forward() keyword that takes the KV cache: `cache` in current transformers;
    `past_key_values` before it was renamed (deprecated, removed in 5.40)."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class EagerDecoder:
    """The plain Hugging Face path: a DynamicCache that grows one position per step."""

    def __init__(self, model, forward=None):
        self.model = model
        self.forward = model if forward is None else forward
        self.cache = None
        self.cache_arg = cache_keyword(model)

    def reset(self):
        self.cache = DynamicCache(config=self.model.config)

    def step(self, ids):
        # logits_to_keep=1: like real serving, the prompt pass computes logits for
        # its last position only, not a (prompt_len x vocab) matrix nobody reads.
        out = self.forward(ids, **{self.cache_arg: self.cache}, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].argmax(-1, keepdim=True)  # greedy, stays on the device

    def prefill(self, prompt):
        return self.step(prompt)

    def decode(self, token, n):
        out = []
        for _ in range(n):
            token = self.step(token)
            out.append(token)
        return torch.cat(out, dim=1)


class StaticDecoder(EagerDecoder):
    """A StaticCache holding prompt + new tokens, allocated once.

    Every decode step then has identical shapes and reads its position from a
    device tensor inside the cache, so the step never syncs with the host: it can
    be compiled without recompiles and captured in a CUDA graph.
    """

    def __init__(self, model, batch, max_len, forward=None):
        super().__init__(model, forward)
        c = model.config
        self.cache = StaticCache(config=c, max_cache_len=max_len)
        # Allocate up front rather than lazily inside the first forward, so the
        # buffers already exist (at fixed addresses) before any compile or capture.
        heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads  # fewer with grouped K/V heads
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.cache.early_initialization(batch, heads, head_dim, model.dtype, model.device)

    def reset(self):
        self.cache.reset()  # zeroes in place: buffer addresses stay the same
