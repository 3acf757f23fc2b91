"""FLOP and byte counts per op kind, each checked against a hand computation."""

import time

import pytest

from profkit.analysis.cost.flops import has_model, op_cost

F, BF, H, L = "float", "c10::BFloat16", "c10::Half", "long int"


def cost(name, dims, types, concrete=None):
    c = op_cost(name, dims, types, concrete)
    assert c is not None, name
    return c


def test_mm_bmm_addmm_baddbmm():
    # (M, K) x (K, N) = (3, 5) x (5, 7): 2*3*5*7 flops; read 15 + 35, write 21 floats
    c = cost("aten::mm", [[3, 5], [5, 7]], [F, F])
    assert (c.flops, c.bytes, c.kind) == (210, (15 + 35 + 21) * 4, "gemm")
    c = cost("aten::bmm", [[4, 3, 5], [4, 5, 7]], [BF, BF])
    assert (c.flops, c.bytes) == (4 * 210, 4 * (15 + 35 + 21) * 2)
    # addmm(bias[7], a, b): the bias add is one flop per output element
    c = cost("aten::addmm", [[7], [3, 5], [5, 7], [], []], [F, F, F, "Scalar", "Scalar"])
    assert (c.flops, c.bytes) == (210 + 21, (7 + 15 + 35 + 21) * 4)
    c = cost("aten::baddbmm", [[4, 3, 7], [4, 3, 5], [4, 5, 7], [], []], [H, H, H, "Scalar", "Scalar"])
    assert (c.flops, c.bytes) == (4 * (210 + 21), (84 + 60 + 140 + 84) * 2)
    assert op_cost("aten::mm", [[3, 5], [6, 7]], [F, F]) is None  # inner dims differ


def test_linear_with_and_without_bias():
    # GPT-2-like projection: x (1, 16, 768) @ W^T (2304 x 768) + b
    c = cost("aten::linear", [[1, 16, 768], [2304, 768], [2304]], [BF, BF, BF])
    assert c.flops == 2 * 16 * 768 * 2304 + 16 * 2304
    assert c.bytes == (16 * 768 + 2304 * 768 + 2304 + 16 * 2304) * 2
    c = cost("aten::linear", [[16, 768], [2304, 768], []], [BF, BF, ""])
    assert c.flops == 2 * 16 * 768 * 2304


def test_matmul_broadcasting():
    # (2, 1, 3, 5) @ (4, 5, 7) broadcasts to batch (2, 4): out (2, 4, 3, 7)
    c = cost("aten::matmul", [[2, 1, 3, 5], [4, 5, 7]], [F, F])
    assert c.flops == 2 * 8 * 3 * 5 * 7
    assert c.bytes == (30 + 140 + 8 * 21) * 4
    assert cost("aten::matmul", [[5], [5]], [F, F]).flops == 10            # dot
    assert cost("aten::matmul", [[3, 5], [5]], [F, F]).flops == 30         # matrix-vector
    assert cost("aten::matmul", [[5], [2, 5, 7]], [F, F]).flops == 2 * 2 * 5 * 7
    assert op_cost("aten::matmul", [[2, 3, 5], [3, 5, 7]], [F, F]) is None  # batch 2 vs 3


SDPA_TYPES = [BF, BF, BF, "", "Scalar", "Scalar", "", "Scalar"]


def test_sdpa_flops_bytes_and_causal():
    dims = [[2, 8, 128, 64]] * 3 + [[]] * 5
    full = cost("aten::scaled_dot_product_attention", dims, SDPA_TYPES,
                ["", "", "", "", "0.", "False", "", "False"])
    assert full.flops == 4 * 2 * 8 * 128 * 128 * 64
    assert full.bytes == 4 * (2 * 8 * 128 * 64) * 2      # q, k, v read; out written
    assert full.kind == "attention"
    causal = cost("aten::scaled_dot_product_attention", dims, SDPA_TYPES,
                  ["", "", "", "", "0.", "True", "", "False"])
    # unmasked pairs of a 128x128 causal mask: 128*129/2
    assert causal.flops == 2 * 2 * 8 * (128 * 129 // 2) * 128
    assert 0.5 < causal.flops / full.flops < 0.51
    # flag not recorded (older traces): the full square, not a guess at causality
    assert cost("aten::scaled_dot_product_attention", dims, SDPA_TYPES).flops == full.flops


def test_attention_variants_layouts():
    # decode step with a KV cache: Lq = 1, Lk = 40, GQA (k/v have 2 heads, q has 8)
    q, kv = [1, 8, 1, 64], [1, 2, 40, 64]
    c = cost("aten::_scaled_dot_product_flash_attention", [q, kv, kv, [], [], [], []],
             [H, H, H, "Scalar", "Scalar", "Scalar", "Scalar"], ["", "", "", "0.", "False", "False", ""])
    assert c.flops == 4 * 8 * 1 * 40 * 64
    assert c.bytes == (512 + 2 * 5120 + 512) * 2
    # _flash_attention_forward is (B, L, H, D); is_causal is argument 8
    blhd = [1, 141, 8, 64]
    c = cost("aten::_flash_attention_forward", [blhd] * 3 + [[]] * 12, [BF] * 3 + [""] * 12,
             ["", "", "", "", "", "141", "141", "0.", "True", "False", "0.125", "", "", "", ""])
    assert c.flops == 2 * 8 * (141 * 142 // 2) * 128
    c = cost("aten::_efficient_attention_forward", [blhd] * 3 + [[]] * 9, [F] * 3 + [""] * 9,
             [""] * 9 + ["0"] + [""] * 2)
    assert c.flops == 4 * 8 * 141 * 141 * 64
    for name in ("_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                 "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention_for_cpu"):
        assert cost(f"aten::{name}", [[1, 2, 4, 8]] * 3, [F] * 3).flops == 4 * 2 * 4 * 4 * 8


def test_normalizations():
    x = [4, 10, 32]
    c = cost("aten::softmax", [x, [], []], [F, "Scalar", ""])
    assert (c.flops, c.bytes, c.kind) == (5 * 1280, 2 * 1280 * 4, "norm")
    # _softmax(half_to_float=True) writes float32
    c = cost("aten::_softmax", [x, [], []], [H, "Scalar", "Scalar"], ["", "-1", "True"])
    assert c.bytes == 1280 * 2 + 1280 * 4
    c = cost("aten::native_layer_norm", [x, [], [32], [32], []], [BF, "ScalarList", BF, BF, "Scalar"])
    assert (c.flops, c.bytes) == (7 * 1280, (1280 + 32 + 32 + 1280) * 2)
    c = cost("aten::layer_norm", [x, [], [], [], [], []], [F, "ScalarList", "", "", "Scalar", "Scalar"])
    assert c.flops == 5 * 1280
    c = cost("aten::rms_norm", [x, [], [32], []], [BF, "ScalarList", BF, "Scalar"])
    assert (c.flops, c.bytes) == (4 * 1280, (1280 + 32 + 1280) * 2)
    c = cost("aten::native_group_norm", [[2, 8, 4, 4], [8], [8], [], [], [], [], []],
             [F, F, F, "Scalar", "Scalar", "Scalar", "Scalar", "Scalar"])
    assert (c.flops, c.bytes) == (7 * 256, (256 + 16 + 256) * 4)
    # inference batch norm reads running mean/var too
    c = cost("aten::batch_norm", [[2, 8, 4, 4], [8], [8], [8], [8], [], [], [], []],
             [F, F, F, F, F, "Scalar", "Scalar", "Scalar", "Scalar"])
    assert c.bytes == (256 + 32 + 256) * 4


def test_pointwise_and_inplace():
    c = cost("aten::add", [[2, 3, 4], [4], []], [F, F, "Scalar"])           # broadcast add
    assert (c.flops, c.bytes, c.kind) == (24, (24 + 4 + 24) * 4, "pointwise")
    c = cost("aten::add_", [[128], [128], []], [F, F, "Scalar"])            # in place
    assert (c.flops, c.bytes) == (128, 3 * 128 * 4)
    c = cost("aten::mul", [[16, 256], []], [F, "double"])                   # 0-dim tensor
    assert (c.flops, c.bytes) == (4096, 4096 * 4 + 8 + 4096 * 4)
    c = cost("aten::gelu", [[10, 20], []], [BF, ""], ["", "none"])
    assert c.flops == 5 * 200 and c.bytes == 2 * 200 * 2
    assert cost("aten::gelu", [[10, 20], []], [BF, ""], ["", "tanh"]).flops == 9 * 200
    assert cost("aten::silu", [[10, 20]], [BF]).flops == 5 * 200
    assert cost("aten::tanh", [[10, 20]], [F]).flops == 200
    c = cost("aten::where", [[10, 1], [10, 20], []], ["bool", H, "Scalar"])
    assert c.bytes == 10 + 200 * 2 + 200 * 2                                 # out is half
    c = cost("aten::lt", [[10, 20], [10, 20]], [F, F])                       # bool output
    assert c.bytes == 2 * 800 + 200
    assert op_cost("aten::add", [[3], [4]], [F, F]) is None                  # no broadcast


def test_reductions_need_recorded_dims():
    c = cost("aten::mean", [[16, 559, 1024], [], [], []], [F, "ScalarList", "Scalar", ""],
             ["", "[-1]", "True", ""])
    assert (c.flops, c.bytes) == (16 * 559 * 1024, (16 * 559 * 1024 + 16 * 559) * 4)
    c = cost("aten::sum", [[8, 4]], [F])                                     # full reduction
    assert c.bytes == (32 + 1) * 4
    # dims not recorded (no "Concrete Inputs"): unknown, not guessed
    assert op_cost("aten::sum", [[8, 4], [], [], []], [F, "ScalarList", "Scalar", ""]) is None
    c = cost("aten::argmax", [[8, 50257], [], []], [F, "Scalar", "Scalar"], ["", "-1", "False"])
    assert c.bytes == 8 * 50257 * 4 + 8 * 8


def test_gathers_and_copies():
    # embedding: 16 ids of 8 bytes, 16 rows of 64 floats read and written
    c = cost("aten::embedding", [[1000, 64], [1, 16], [], [], []], [F, L, "Scalar", "Scalar", "Scalar"])
    assert (c.flops, c.bytes, c.kind) == (0, 16 * 8 + 2 * 16 * 64 * 4, "gather")
    c = cost("aten::index_select", [[1000, 64], [], [16]], [F, "Scalar", L], ["", "0", ""])
    assert c.bytes == 16 * 8 + 2 * 16 * 64 * 4
    c = cost("aten::copy_", [[16, 192], [16, 192], []], [BF, F, "Scalar"])   # cast while copying
    assert (c.flops, c.bytes, c.kind) == (0, 16 * 192 * (2 + 4), "copy")
    assert cost("aten::clone", [[5, 7], []], [H, ""]).bytes == 2 * 35 * 2
    assert cost("aten::fill_", [[5, 7], []], [F, "Scalar"]).bytes == 35 * 4


def test_conv2d():
    # OWLv2 patch embedding: 1x3x1008x1008 image, 1024 filters 3x14x14, stride 14 -> 72x72
    dims = [[1, 3, 1008, 1008], [1024, 3, 14, 14], [], [], [], [], []]
    types = [BF, BF, "", "ScalarList", "ScalarList", "ScalarList", "Scalar"]
    c = cost("aten::conv2d", dims, types, ["", "", "", "[14, 14]", "[0, 0]", "[1, 1]", "1"])
    out = 1024 * 72 * 72
    assert c.flops == 2 * out * 3 * 14 * 14
    assert c.bytes == (3 * 1008 * 1008 + 1024 * 3 * 14 * 14 + out) * 2
    # grouped (depthwise) conv with bias: weight (32, 1, 3, 3), padding 1 keeps 8x8
    c = cost("aten::convolution", [[2, 32, 8, 8], [32, 1, 3, 3], [32]] + [[]] * 6,
             [F, F, F, "ScalarList", "ScalarList", "ScalarList", "Scalar", "ScalarList", "Scalar"],
             ["", "", "", "[1, 1]", "[1, 1]", "[1, 1]", "False", "[0, 0]", "32"])
    assert c.flops == 2 * (2 * 32 * 64) * 9 + 2 * 32 * 64
    assert op_cost("aten::conv2d", dims, types) is None                      # stride unknown


def test_unknown_ops_and_missing_shapes_are_none():
    assert op_cost("aten::mm", None, None) is None
    assert op_cost("aten::mm", [], []) is None
    assert op_cost("aten::view", [[3, 4], []], [F, "ScalarList"]) is None
    assert op_cost("my::custom_op", [[3, 4]], [F]) is None
    # cat's TensorList carries no element dtype, so its bytes are unknown
    assert op_cost("aten::cat", [[[2, 3], [2, 3]], []], ["TensorList", "Scalar"]) is None
    assert has_model("aten::addmm") and has_model("aten::mul_") and not has_model("aten::view")


def test_fast_on_many_ops():
    ops = [("aten::addmm", [[768], [i % 97 + 1, 768], [768, 768], [], []],
            [BF, BF, BF, "Scalar", "Scalar"]) for i in range(20000)]
    ops += [("aten::add", [[i % 53 + 1, 768], [i % 53 + 1, 768], []], [BF, BF, "Scalar"])
            for i in range(20000)]
    t0 = time.perf_counter()
    total = sum(op_cost(*o).flops for o in ops)
    assert time.perf_counter() - t0 < 2.0
    assert total == pytest.approx(sum(2 * (i % 97 + 1) * 768 * 768 + (i % 97 + 1) * 768
                                      for i in range(20000)) + sum((i % 53 + 1) * 768 for i in range(20000)))
