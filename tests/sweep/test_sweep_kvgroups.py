"""Grouped K/V heads: G=1 is GPT-2 bit for bit, G>1 shrinks the KV cache by G (tiny models)."""

import pytest
import torch
from transformers import DynamicCache

from profkit.capture.generate import EagerDecoder, StaticDecoder, synthetic_prompt
from profkit.analysis.cost.roofline import estimate
from profkit.capture.kvgroups import group_kv_heads
from profkit.capture.models import ModelSpec, build_model, describe
from profkit.errors import ProfkitError
from tests.helpers.models import tiny_gpt2_config

CPU = torch.device("cpu")


def config(**kw):
    return tiny_gpt2_config(**{"n_head": 4, **kw})


def model(groups=1, seed=0):
    return build_model(ModelSpec("tiny", "test", config(), None, kv_groups=groups), "float32", CPU, seed)


def logits(net, ids):
    with torch.inference_mode():
        return net(ids, use_cache=False).logits


def test_one_group_is_standard_gpt2_exactly():
    ids = synthetic_prompt(3, 10, 97, seed=1, device=CPU)
    standard = model()
    converted = group_kv_heads(model(), 1)  # the variant's code path, applied with G=1
    assert converted.transformer.h[0].attn.split_size == [32, 32, 32]
    assert torch.equal(logits(converted, ids), logits(standard, ids))
    assert logits(standard, ids).abs().max() > 0.1  # not trivially equal


def test_groups_pool_key_and_value_heads():
    base, grouped = model(), model(groups=2)
    a, g = base.transformer.h[1].attn, grouped.transformer.h[1].attn
    assert g.c_attn.weight.shape == (32, 32 + 2 * 16)
    hd = 8
    # K/V head 1 of the grouped model is the mean of standard heads 2 and 3; queries untouched.
    k_std = a.c_attn.weight[:, 32:64]
    k_grp = g.c_attn.weight[:, 32:48]
    want = (k_std[:, 2 * hd:3 * hd] + k_std[:, 3 * hd:4 * hd]) / 2
    assert torch.allclose(k_grp[:, hd:2 * hd], want)
    assert torch.equal(g.c_attn.weight[:, :32], a.c_attn.weight[:, :32])
    v_bias = a.c_attn.bias[64:]
    assert torch.allclose(g.c_attn.bias[48:56], (v_bias[:8] + v_bias[8:16]) / 2)


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_model_matches_explicitly_repeated_kv(groups):
    """Independent reference: a standard model whose K/V heads are the pooled heads,
    repeated G times, must give the grouped model's logits."""
    grouped, ref = model(groups), model()
    h, hd, n_kv = 32, 8, 4 // groups
    for gb, rb in zip(grouped.transformer.h, ref.transformer.h):
        w, b = gb.attn.c_attn.weight, gb.attn.c_attn.bias

        def rep(x):
            heads = x.reshape(*x.shape[:-1], n_kv, 1, hd).expand(*x.shape[:-1], n_kv, groups, hd)
            return heads.reshape(*x.shape[:-1], h)

        with torch.no_grad():
            kv = 2 * n_kv * hd
            rb.attn.c_attn.weight.copy_(torch.cat([w[:, :h], rep(w[:, h:h + kv // 2]), rep(w[:, h + kv // 2:])], 1))
            rb.attn.c_attn.bias.copy_(torch.cat([b[:h], rep(b[h:h + kv // 2]), rep(b[h + kv // 2:])]))
    ids = synthetic_prompt(2, 12, 97, seed=2, device=CPU)
    assert torch.allclose(logits(grouped, ids), logits(ref, ids), atol=1e-5)


def cache_bytes(cache):
    return sum(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
               for layer in cache.layers)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_kv_cache_shrinks_by_groups(groups):
    net = model(groups)
    prompt = synthetic_prompt(2, 9, 97, seed=0, device=CPU)
    dec = EagerDecoder(net)
    with torch.inference_mode():
        dec.reset()
        dec.decode(dec.prefill(prompt), 5)
    assert isinstance(dec.cache, DynamicCache)
    assert dec.cache.layers[0].keys.shape == (2, 4 // groups, 9 + 5, 8)
    # 2 (K,V) x 2 layers x batch 2 x (4/G heads x 8) x 14 positions x 4 bytes
    assert cache_bytes(dec.cache) == 2 * 2 * 2 * (32 // groups) * 14 * 4
    spec = ModelSpec("tiny", "test", config(), None, kv_groups=groups)
    assert estimate(spec.shape, "float32", 2, 9, 5).kv_cache_bytes == cache_bytes(dec.cache)


def test_static_cache_is_sized_for_kv_heads_and_decodes_like_eager():
    net = model(4)
    prompt = synthetic_prompt(2, 8, 97, seed=0, device=CPU)
    with torch.inference_mode():
        eager, static = EagerDecoder(net), StaticDecoder(net, 2, 8 + 6)
        out = []
        for dec in (eager, static):
            dec.reset()
            first = dec.prefill(prompt)
            out.append(torch.cat([first, dec.decode(first, 6)], 1))
    assert static.cache.layers[0].keys.shape == (2, 1, 14, 8)
    assert torch.equal(out[0], out[1])
    assert describe(ModelSpec("tiny", "test", config(), None, kv_groups=4), net)["kv_groups"] == 4


def test_groups_must_divide_heads():
    with pytest.raises(ProfkitError, match="does not divide"):
        model(3)
