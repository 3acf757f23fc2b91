"""Operator classes: the rule tables on real kernel names, every real trace, the
TraceLens reference numbers, and CPU captures of a tiny GPT-2."""

import contextlib
import csv
import json
import re

import numpy as np
import pandas as pd
import pytest

import profkit
from profkit.analysis.classes import classify as C
from profkit.analysis.analyze import summarize
from profkit.analysis.classes.rules import KERNEL_RULES, OP_RULES
from tests.helpers import DATA
from tests.helpers.models import tiny_gpt2_config
from tests.helpers.traces import SHARED, all_real_traces, ev, real_trace, write_kineto

TC, NORM, EW, ATTN, MEM, COMM, OTHER = C.CLASSES
# Real kernel names from ../shared traces, labelled by hand (name, class, trace).
LABELLED = json.loads((DATA / "kernel_names.json").read_text())
QWEN = "kineto-h100-qwen1.5-0.5b-hf-eager-infer"
BERT = "kineto-h100-bert-small-hf-eager-infer"


def test_class_names_and_order():
    assert C.CLASSES == ("tensor_contraction", "normalization", "elementwise", "attention", "memory",
                         "communication", "other")


def test_every_rule_has_a_class_and_a_reason():
    for pattern, cls, why in KERNEL_RULES + OP_RULES:
        assert cls in C.CLASSES or cls is None, pattern
        assert len(why) > 20, pattern


@pytest.mark.parametrize("row", LABELLED, ids=lambda r: r["name"][:60])
def test_real_kernel_names(row):
    """Names from ../shared traces ("trace") and from the stacks' sources and issue
    threads ("source"; docs/classification.md lists them)."""
    assert C.kernel_rule_class(row["name"]) == row["class"]
    assert row.get("trace") or row.get("source")


def test_every_kernel_rule_is_exercised_by_a_test_name():
    """Each kernel rule decides at least one name of the labelled list or of NAMING."""
    names = [r["name"] for r in LABELLED] + [name for name, _ in NAMING]
    deciding = {next(i for i, (p, _, _) in enumerate(KERNEL_RULES) if re.search(p, C.kernel_core(n), re.IGNORECASE))
                for n in names if C.kernel_rule_class(n) != "?"}
    assert [p for i, (p, _, _) in enumerate(KERNEL_RULES) if i not in deciding] == []


# Names no rule knows: the words decide (layer "token").
@pytest.mark.parametrize("name, cls", [
    ("void my_ep::ep_dispatch_tokens<8>(int*)", COMM),
    # ppl-ai/pplx-kernels csrc/all_to_all/intranode_dispatch.cu, combine.cu (12cecfda): the words decide
    ("void (anonymous namespace)::dispatchKernel<16, true, true>(int*, unsigned long)", COMM),
    ("void (anonymous namespace)::combineKernel<__nv_bfloat16, __nv_bfloat16, 16, true, true>(int*)", COMM),
    ("void my_ep::combine_experts<float>(float*)", COMM),
    ("void lib::hgmma_tile_kernel<128>(float*)", TC),
    ("void lib::row_sum_v2<float>(float*)", NORM),
    ("void lib::pack_rows<int>(int*)", MEM),
    ("void lib::bias_act_fwd<float>(float*)", EW),
    ("void lib::mha_tile<64>(float*)", ATTN),
    ("void lib::gamma_update<float>(float*)", None),  # "gamma" is not an mma token
])
def test_token_layer(name, cls):
    assert C.kernel_rule_class(name) == "?"
    assert C.kernel_layer(name) == ((cls, "token") if cls else (None, "none"))


def test_name_tokens_split_words_and_camel_case():
    assert C.name_tokens("moeA2ADispatchKernel") == "moe_a2_a_dispatch_kernel"
    assert C.name_tokens("void deep_ep::intranode::notify_dispatch") == "void_deep_ep_intranode_notify_dispatch"


# Names whose class depends on rule order or on a naming scheme (Inductor, cuDNN, vLLM).
NAMING = [
    ("triton_poi_fused_clone_0", MEM),
    ("triton_poi_fused__to_copy_cat_1", MEM),
    ("triton_poi_fused_add_mul_tanh_2", EW),
    ("triton_poi_fused_0", EW),
    ("triton_red_fused__softmax_0", NORM),
    ("triton_per_fused_add_native_layer_norm_1", NORM),
    ("triton_tem_fused_mm_0", TC),
    ("triton_tem_fused_flex_attention_0", ATTN),
    ("triton_for_fused_0", EW),
    ("triton__0d1d2d3d", None),
    ("graph_0_cpp_fused_add_mul_pow_tanh_view_3", EW),
    ("graph_0_cpp_fused_cat_split_transpose_view_1", MEM),
    ("graph_0_cpp_fused_add_arange_embedding_native_layer_norm_unsqueeze_0", NORM),
    ("cpp_fused__softmax_2", NORM),
    ("Memcpy HtoD (Pageable -> Device)", MEM),
    ("Memset (Device)", MEM),
    ("void flashinfer::BatchPrefillWithPagedKVCacheKernel<KTraits, Params>(Params)", ATTN),
    ("void vllm::cross_device_reduce_1stage<c10::BFloat16, 8>(vllm::RankData*, int)", COMM),
    ("void vllm::act_and_mul_kernel<c10::BFloat16, &vllm::silu_kernel<c10::BFloat16>, true>(c10::BFloat16*)", EW),
    ("void fbgemm_gpu::f8f8bf16_rowwise_kernel<cutlass::gemm::GemmShape<128, 128, 128>>(Params)", TC),
    ("cpp_fused_addmm_relu_0", TC),
    ("__amd_rocclr_copyBuffer", MEM),
    ("cutlass_tensorop_s16816fprop_optimized_f16_128x128_32x5_nhwc", TC),  # CUTLASS profiler conv2d operation
    ("Kernel", "?"),
]


@pytest.mark.parametrize("name, cls", NAMING)
def test_naming_schemes_and_rule_order(name, cls):
    assert C.kernel_rule_class(name) == cls


def test_kernel_core_drops_only_the_parameter_list():
    assert C.kernel_core("void f<int, g(float)>(int, float*)") == "void f<int, g(float)>"
    assert C.kernel_core("void (anonymous namespace)::k<(((8)>(0)))&&x>(int)") == "void {anonymous}::k<(((8)>(0)))&&x>"
    assert C.kernel_core("ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)") == "ncclKernel_AllReduce_RING_LL_Sum_float"
    assert C.kernel_core("nvjet_tst_64x16_64x16_2x4_2cta_h_bz_bias_TNT") == "nvjet_tst_64x16_64x16_2x4_2cta_h_bz_bias_TNT"


@pytest.mark.parametrize("name, cls", [
    ("aten::addmm", TC), ("aten::linear", TC), ("aten::conv2d", TC), ("aten::convolution_backward", TC),
    ("autograd::engine::evaluate_function: AddmmBackward0", TC), ("vllm::moe_forward", TC),
    ("aten::_scaled_dot_product_flash_attention", ATTN), ("vllm::unified_attention_with_output", ATTN),
    ("aten::native_layer_norm", NORM), ("NativeLayerNormBackward0", NORM), ("aten::_softmax", NORM),
    ("aten::mean", NORM), ("_C::rms_norm", NORM), ("aten::max_pool2d_with_indices", NORM),
    ("aten::add_", EW), ("aten::gelu", EW), ("aten::threshold_backward", EW), ("_C::rotary_embedding", EW),
    ("_C::silu_and_mul", EW), ("torch::autograd::AccumulateGrad", EW),
    ("aten::copy_", MEM), ("aten::cat", MEM), ("aten::embedding", MEM), ("aten::index_select", MEM),
    ("aten::_local_scalar_dense", MEM), ("_C_cache_ops::reshape_and_cache_flash", MEM),
    ("c10d::allreduce_", COMM), ("nccl:all_reduce", COMM), ("record_param_comms", COMM),
    ("symm_mem::multimem_all_reduce_", COMM),
    ("aten::view", None), ("aten::empty_strided", None), ("aten::to", None), ("ProfilerStep#3", None),
    ("Torch-Compiled Region: 0/0", None), ("CompiledFunction", None), ("aten::frobnicate", "?"),
])
def test_op_rules(name, cls):
    assert C.op_rule_class(name) == cls


def test_op_key_normalises_names():
    assert C.op_key("aten::add_") == "add"
    assert C.op_key("autograd::engine::evaluate_function: NativeLayerNormBackward0") == "native_layer_norm"
    assert C.op_key("_C::rms_norm") == "_c::rms_norm"
    assert C.op_key("Torch-Compiled Region: 0/0") == "torch-compiled region: 0/0"


def test_classify_names_is_categorical_aligned_and_falls_back():
    names = pd.Series(["Kernel", "volta_sgemm_64x64_nt", "triton__0d1d"], index=[10, 20, 30])
    out = C.classify_names(names)
    assert list(out.cat.categories) == list(C.CLASSES)
    assert list(out.index) == [10, 20, 30]
    assert list(out) == [OTHER, TC, OTHER]
    assert C.classify_names(names, fallback=None).isna().tolist() == [True, False, True]


def test_each_distinct_name_is_matched_once(monkeypatch):
    calls = []
    real_first = C._first
    monkeypatch.setattr(C, "_first", lambda rules, text: calls.append(text) or real_first(rules, text))
    C.kernel_rule_class.cache_clear()
    names = pd.Series(["zz_a_gemm", "zz_b_copy_kernel", "zz_c_softmax"] * 50_000)
    out = C.classify_names(names)
    assert len(calls) == 3
    assert out.value_counts()[[TC, MEM, NORM]].tolist() == [50_000] * 3


def launched_by(op, n):
    """A CPU op (External id n) and its launch call (correlation 10 + n) at time 20 n."""
    return [ev("cpu_op", op, 20 * n, 10, **{"External id": n}),
            ev("cuda_runtime", "cudaLaunchKernel", 20 * n + 1, 2, correlation=10 + n, **{"External id": n})]


def test_open_kernel_names_are_decided_by_the_launching_op(tmp_path):
    events = [
        *launched_by("aten::mm", 1), *launched_by("aten::add", 2), *launched_by("aten::view", 3),
        ev("kernel", "Kernel", 100, 5, correlation=11, stream=7),
        ev("kernel", "triton__0d1d2d", 110, 5, correlation=12, stream=7),
        ev("kernel", "mystery_kernel", 120, 5, correlation=13, stream=7),
        ev("kernel", "triton__0d1d", 130, 5, correlation=99, stream=7),  # launch not in the trace
        ev("gpu_memcpy", "Memcpy DtoH (Device -> Pinned)", 140, 5, correlation=98, stream=7),
        ev("kernel", "volta_sgemm_128x64_nn", 150, 5, correlation=12, stream=7),  # name wins over op
    ]
    trace = profkit.load(write_kineto(tmp_path / "t.json", events))
    assert list(C.classify_gpu(trace)) == [TC, EW, OTHER, OTHER, MEM, TC]
    cls, by = C.classify_gpu_layers(trace)
    assert list(by) == ["op", "op", "none", "none", "rule", "rule"]
    cov = C.coverage(trace.gpu["name"].astype(str), trace.gpu["dur"], by)
    assert {k: v.count for k, v in cov.classified_by.items()} == {"rule": 2, "token": 0, "op": 2, "none": 2}
    assert [u.name for u in cov.unclassified] == ["mystery_kernel", "triton__0d1d"]
    assert sum(v.time_us for v in cov.classified_by.values()) == pytest.approx(trace.gpu["dur"].sum())


def test_custom_ops_classify_their_kernels_by_the_op_name(tmp_path):
    events = [
        *launched_by("sgl_kernel::fused_add_rmsnorm", 1), *launched_by("deep_ep::low_latency_dispatch", 2),
        ev("kernel", "void sgl::k0<8>(float*)", 100, 5, correlation=11, stream=7),
        ev("kernel", "void lib::k1<8>(float*)", 110, 5, correlation=12, stream=7),
    ]
    cls, by = C.classify_gpu_layers(profkit.load(write_kineto(tmp_path / "t.json", events)))
    assert list(cls) == [NORM, COMM] and list(by) == ["op", "op"]


def test_user_rules_come_first(tmp_path):
    trace = profkit.load(write_kineto(tmp_path / "t.json", [
        ev("kernel", "volta_sgemm_128x64_nn", 0, 5, correlation=1, stream=7),
        ev("kernel", "mystery_kernel", 10, 5, correlation=2, stream=7)]))
    # A user rule of no class skips the built-in rules: the name's words decide.
    rules = (C.UserRule("mystery", COMM, "ours"), C.UserRule("volta", None, "ask the next layers"))
    cls, by = C.classify_gpu_layers(trace, rules)
    assert list(cls) == [TC, COMM] and list(by) == ["token", "rule"]
    assert list(C.classify_gpu_layers(trace)[1]) == ["rule", "none"]


def other_share(trace):
    """Fraction (0..1) of time classified "other": of GPU kernel time (memcpy/memset left out), or of
    the self time of the classified CPU ops on a CPU-only trace; NaN with nothing to classify."""
    if trace.has_gpu:
        kernels = (trace.gpu["kind"] == "kernel").to_numpy()
        dur, cls = trace.gpu["dur"].to_numpy()[kernels], C.classify_gpu(trace).to_numpy()[kernels]
    else:
        cls = C.classify_cpu_ops(trace)
        keep = cls.notna().to_numpy()
        dur, cls = C.self_time(trace.cpu_ops)[keep], cls.to_numpy()[keep]
    total = dur.sum()
    return float(dur[cls == OTHER].sum() / total) if total > 0 else float("nan")


@pytest.mark.parametrize("path", all_real_traces(), ids=lambda p: str(p.relative_to(SHARED)))
def test_every_real_trace_classifies(path):
    trace = profkit.load(path)
    share = other_share(trace)
    print(f"{path.name}: other {share:.2%} of kernel time")
    assert np.isnan(share) or 0 <= share <= 1
    if not trace.has_gpu:
        return
    cls = C.classify_gpu(trace)
    assert len(cls) == len(trace.gpu) and cls.notna().all()
    assert (cls[(trace.gpu["kind"] != "kernel").to_numpy()] == MEM).all()
    if path.name not in SYNTHETIC:
        assert share < 0.05


# Test fixtures whose only kernels are synthetic: a dummy named "Kernel", a spin kernel.
SYNTHETIC = {"kineto-fmt-libkineto-test-cudasync-afterfix.json.gz",
             "kineto-fmt-libkineto-test-cudasync-beforefix.json.gz", "event_sync_trace.json.gz"}


@pytest.mark.parametrize("name", [QWEN, BERT])
def test_other_is_under_five_percent_on_h100_traces(name):
    trace = profkit.load(real_trace(name + ".json.gz"))
    assert other_share(trace) < 0.05


def tracelens(name, table):
    path = real_trace(f"tracelens-ref/{name}/{table}.csv")
    return pd.DataFrame(list(csv.DictReader(path.open(encoding="utf-8"))))


@pytest.mark.parametrize("name", [QWEN, BERT])
def test_tracelens_kernel_categories_map_onto_ours(name):
    """TraceLens labels each kernel by its parent op; we label by kernel name. Every
    kernel row must land where the mapping in docs/tracelens-comparison.md says."""
    rows = tracelens(name, "kernel_summary")
    rows["t"] = rows["Kernel duration (µs)_sum"].astype(float)
    rows["ours"] = C.classify_names(rows["Kernel name"]).astype(str).to_numpy()
    cat, op = rows["Parent op category"], rows["Parent cpu_op"]
    trace = profkit.load(real_trace(name + ".json.gz"))
    assert trace.gpu.loc[trace.gpu["kind"] == "kernel", "dur"].sum() == pytest.approx(rows["t"].sum(), rel=1e-6)
    assert set(rows.loc[cat == "GEMM", "ours"]) == {TC}
    assert set(rows.loc[cat.isin(["NORM_fwd", "reduce"]), "ours"]) == {NORM}
    ew = rows[cat == "elementwise"]
    assert (ew["ours"] == np.where(ew["Parent cpu_op"] == "aten::copy_", MEM, EW)).all()
    other_map = {"aten::_flash_attention_forward": ATTN, "aten::cat": MEM, "aten::index_select": MEM,
                 "aten::arange": EW}
    assert (rows.loc[cat == "other", "ours"] == op[cat == "other"].map(other_map)).all()


@pytest.mark.parametrize("name", [QWEN, BERT])
def test_tracelens_category_totals_agree_where_comparable(name):
    """ops_summary_by_category counts GPU activities whose launching op is known, by
    the op's category; rebuild each of its numbers from our classes."""
    ref = tracelens(name, "ops_summary_by_category")
    ref = dict(zip(ref["op category"], ref["total_direct_kernel_time_ms"].astype(float) * 1000))
    trace = profkit.load(real_trace(name + ".json.gz"))
    g = trace.gpu_ops().assign(cls=C.classify_gpu(trace).to_numpy())
    g = g[g["op_name"].notna()]
    op = g["op_name"].astype(str)

    def t(mask):
        return g.loc[mask, "dur"].sum()
    gemm_memsets = (g["kind"] == "memset") & op.isin(["aten::mm", "aten::addmm", "aten::bmm"])
    copies = (g["cls"] == MEM) & (op == "aten::copy_")
    arange = (g["cls"] == EW) & (op == "aten::arange")
    assert t(g["cls"] == TC) + t(gemm_memsets) == pytest.approx(ref["GEMM"], rel=1e-4)
    assert t(g["cls"] == NORM) == pytest.approx(ref.get("NORM_fwd", 0) + ref["reduce"], rel=1e-4)
    assert t(g["cls"] == EW) - t(arange) + t(copies) == pytest.approx(ref["elementwise"], rel=1e-4)
    other = t(g["cls"] == ATTN) + t(g["cls"] == MEM) - t(copies) - t(gemm_memsets) + t(arange)
    assert other == pytest.approx(ref["other"], rel=1e-4)


# -- CPU captures -------------------------------------------------------------------------------------

def capture_gpt2_cpu(path, compiled):
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_gpt2_config(n_embd=64, vocab_size=256, n_positions=32,
                                             initializer_range=0.02)).eval()
    ids = torch.randint(0, 256, (1, 8))
    fn, options = model, contextlib.nullcontext()
    if compiled:
        import torch._inductor.config as inductor_config
        fn = torch.compile(model)
        # Inductor's C++ kernels get profiler events (named cpp_fused_*) only with this.
        options = inductor_config.patch({"cpp.enable_kernel_profile": True})
    with options, torch.inference_mode():
        fn(ids)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn(ids)
    prof.export_chrome_trace(str(path))
    return profkit.load(path)


@pytest.fixture(scope="module")
def eager_cpu(tmp_path_factory):
    return capture_gpt2_cpu(tmp_path_factory.mktemp("cpu") / "eager.json", compiled=False)


def naive_self_times(ops):
    """Self time by brute force: an op's direct children are the ops whose innermost
    enclosing op (shortest enclosing interval on the same thread) it is. Of two
    identical intervals the one recorded first encloses the other."""
    rows = list(ops[["tid", "ts", "end", "dur"]].itertuples(index=False))

    def key(i):
        return (rows[i][2] - rows[i][1], -rows[i][1], -i)
    child = np.zeros(len(rows))
    for j, (tid, ts, end, dur) in enumerate(rows):
        enclosing = [i for i, (t2, s2, e2, _) in enumerate(rows)
                     if i != j and t2 == tid and s2 <= ts and end <= e2 and key(i) > key(j)]
        if enclosing:
            child[min(enclosing, key=key)] += dur
    return np.clip(ops["dur"].to_numpy() - child, 0, None)


def test_cpu_ops_of_eager_gpt2(eager_cpu):
    ops = eager_cpu.cpu_ops.assign(cls=C.classify_cpu_ops(eager_cpu).to_numpy())
    by_name = ops.groupby("name", observed=True)["cls"].first()
    assert by_name["aten::addmm"] == TC
    assert by_name["aten::native_layer_norm"] == NORM
    assert by_name["aten::_scaled_dot_product_flash_attention_for_cpu"] == ATTN
    assert by_name["aten::tanh"] == EW and by_name["aten::mul"] == EW
    assert by_name["aten::index_select"] == MEM and by_name["aten::copy_"] == MEM
    assert pd.isna(by_name["aten::view"]) and pd.isna(by_name["aten::transpose"])


def test_cpu_breakdown_matches_brute_force_self_times(eager_cpu):
    got = C.cpu_breakdown(eager_cpu)
    ops = eager_cpu.cpu_ops
    cls = C.classify_cpu_ops(eager_cpu).astype(object).to_numpy()
    self_t = naive_self_times(ops)
    for c in C.CLASSES:
        assert got["classes"][c]["time_us"] == pytest.approx(self_t[cls == c].sum(), abs=1e-6)
    window = ops["end"].max() - ops["ts"].min()  # one thread in this capture
    assert got["threads"] == 1 and got["window_us"] == pytest.approx(window)
    parts = got["classified_us"] + got["compiled_region_self_us"] + got["framework_overhead_us"]
    assert parts == pytest.approx(window)
    assert 0 < got["framework_overhead_pct"] < 100
    table = summarize(eager_cpu).classes  # the Summary's class table counts the same self times
    assert {c: table[c].time_us for c in C.CLASSES} == pytest.approx({c: got["classes"][c]["time_us"] for c in C.CLASSES})


@pytest.mark.slow
def test_compiled_cpu_capture_names_inductor_kernels(tmp_path):
    trace = capture_gpt2_cpu(tmp_path / "compiled.json", compiled=True)
    ops = trace.cpu_ops.assign(cls=C.classify_cpu_ops(trace).to_numpy())
    fused = ops[ops["name"].astype(str).str.contains("cpp_fused_")]
    assert len(fused) > 0
    norm = fused["name"].astype(str).str.contains("layer_norm")
    assert (fused.loc[norm, "cls"] == NORM).all() and norm.any()
    assert fused["cls"].isin([NORM, EW, MEM]).all()
    got = C.cpu_breakdown(trace)
    assert got["compiled_region_self_us"] > 0
    assert got["classes"][TC]["time_us"] > 0  # Inductor calls extern mm/addmm kernels
