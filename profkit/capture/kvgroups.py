"""GPT-2 with grouped K/V heads: G query heads share one key/value head.

G = 1 is standard GPT-2 (multi-head attention), G = n_head is multi-query
attention (Shazeer 2019), values between are grouped-query attention (Ainslie et
al., "GQA", 2023). The KV cache shrinks by G, and so does the K/V part of the
QKV projection; queries and everything else are unchanged.

The variant reuses transformers' GPT2Attention whole: only its fused QKV
projection gets narrower K/V columns and its split becomes [h, h/G, h/G]. The
forward pass, the cache updates and the SDPA call are transformers' own; SDPA
shares each K/V head among its G query heads (its `num_key_value_groups`).

A standard model (random or trained) is converted by mean-pooling the K and V
heads of each group, the GQA paper's conversion; with G = 1 this copies the
weights exactly, so the logits are the standard model's, bit for bit.
"""

import torch
from transformers.models.gpt2.modeling_gpt2 import GPT2Attention
from transformers.pytorch_utils import Conv1D

from profkit.errors import ProfkitError


def check_groups(n_head, groups, model_name="the model"):
    """Refuse a G that does not split the heads into whole groups."""
    if groups < 1:
        raise ProfkitError(f"--kv-groups must be at least 1 (got {groups})")
    if n_head % groups:
        raise ProfkitError(
            f"--kv-groups {groups} does not divide {model_name}'s {n_head} attention heads"
        )


def _pool(block, n_kv, groups, head_dim):
    """Mean of each group of G consecutive heads (columns of a Conv1D weight or bias).

    SDPA's grouping gives K/V head j to query heads j*G .. j*G+G-1, so the
    heads pooled into j are exactly the ones whose queries will read it.
    """
    shape = (*block.shape[:-1], n_kv, groups, head_dim)
    return block.reshape(shape).mean(dim=-2).reshape(*block.shape[:-1], n_kv * head_dim)


def group_attention(attn, groups):
    """Turn one GPT2Attention into its grouped-K/V form, in place."""
    if attn.is_cross_attention:
        raise ProfkitError("--kv-groups supports GPT-2's self-attention only (no cross-attention)")
    h, hd = attn.embed_dim, attn.head_dim
    n_kv = attn.num_heads // groups
    old = attn.c_attn
    w, b = old.weight.data, old.bias.data  # weight is (in, out): columns are Q | K | V
    new = Conv1D(h + 2 * n_kv * hd, h).to(device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(torch.cat([w[:, :h], _pool(w[:, h:2 * h], n_kv, groups, hd),
                                    _pool(w[:, 2 * h:], n_kv, groups, hd)], dim=1))
        new.bias.copy_(torch.cat([b[:h], _pool(b[h:2 * h], n_kv, groups, hd),
                                  _pool(b[2 * h:], n_kv, groups, hd)]))
    attn.c_attn = new
    # torch.split takes a list of sizes; the key/value views use (-1, head_dim), so
    # they come out with n_kv heads without any change to the forward pass.
    attn.split_size = [h, n_kv * hd, n_kv * hd]
    attn.num_key_value_groups = groups


def group_kv_heads(model, groups):
    """Convert a GPT2LMHeadModel (SDPA attention) to G query heads per K/V head, in place."""
    config = model.config
    check_groups(config.n_head, groups)
    if config._attn_implementation != "sdpa":
        # GPT-2's own eager attention has no K/V head sharing; SDPA's does.
        raise ProfkitError("--kv-groups needs the SDPA attention implementation")
    for module in model.modules():
        if isinstance(module, GPT2Attention):
            group_attention(module, groups)
    # The name transformers' GQA models use; static caches are sized from it.
    config.num_key_value_heads = config.n_head // groups
    config.kv_groups = groups
    return model
