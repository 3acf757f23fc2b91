"""Classification rules as data: ordered (regex, class, why) tables.

Classes follow Ivanov et al., "Data Movement Is All You Need" (MLSys 2021):
tensor contractions, statistical normalizations (a reduction, then a map) and
element-wise maps, plus attention (fused SDPA kernels), memory, communication
and other. How to read the tables:

* Kernel rules see the name without its parameter list (classify.kernel_core:
  "void f<T>(int, float*)" -> "void f<T>"): template arguments name functors
  and libraries, parameter types name whatever the caller passed (a TRT-LLM
  quantize kernel takes a `flashinfer::` layout argument).
* Rules are tried top to bottom; the FIRST regex that matches anywhere in the
  text (case-insensitive, `re.search`) decides. Specific rules therefore sit
  above generic ones: flash-attention kernels mention `cutlass::bfloat16_t`, so
  attention comes before the CUTLASS GEMM rule; `rotary_embedding` comes before
  the embedding (gather) rule.
* A class of None means "the name does not say": the caller then looks at the
  CPU op that launched the kernel (OP_RULES), and failing that uses "other".
* `memory` holds every kernel that only moves or initialises data: memcpy and
  memset activities, but also device-side copies/casts, cat, fill, layout
  transforms and index/gather/scatter/embedding lookups. The paper treats data
  layout as the thing to optimise and names no class for it; putting copies
  under element-wise would hide exactly the data movement it is about. A cast
  (bf16 -> fp32) counts as a copy: its arithmetic is nil.

Add a rule by inserting a line above the first rule that would otherwise catch
the name, with a comment naming the library; add the name and its class to the
hand-labelled list tests/data/kernel_names.json.
"""

from profkit.analysis.result.work import ATTN, CLASSES, COMM, EW, MEM, NORM, OTHER, TC  # noqa: F401

# Ops that only copy, gather or reshape; shared by Inductor and CPU fused names. Longest first, and
# each `_op` of a fused name is matched atomically ((?>...)): one reading per name, never the 2^n ways
# "_index_select" repeated could be split into index/select (exponential backtracking on a crafted name).
_MOVE = "|".join(sorted(("cat", "clone", "copy", "to_copy", "embedding", "index", "index_select", "gather", "slice",
                         "select", "view", "unsafe_view", "transpose", "permute", "split", "split_with_sizes",
                         "unsqueeze", "squeeze", "expand", "constant_pad_nd", "t", "reshape", "stack", "repeat"),
                        key=lambda w: (-len(w), w)))

# Inductor (torch.compile) kernel names: the prefix says the kernel's shape.
INDUCTOR_RULES = [
    (rf"^triton_poi_fused(?>_+(?:{_MOVE}))+_*\d*$", MEM,
     "Inductor pointwise kernel fusing only copies/cat/gather/views: data movement"),
    (r"^triton_poi_", EW, "Inductor pointwise kernel (fused maps)"),
    (r"^triton_(?:red|per)_", NORM,
     "Inductor reduction / persistent reduction (softmax, norms, sums): reduction then map"),
    (r"^triton_tem_.*(?:attention|attn|sdpa)", ATTN, "Inductor flex-attention template"),
    (r"^triton_tem_", TC, "Inductor GEMM/conv template kernel (autotuned mm, bmm, addmm, conv)"),
    (r"^triton_for_", EW, "Inductor combo/foreach kernel (horizontally fused maps, optimizer steps)"),
    (r"^triton_+\d", None,
     "PyTorch 2.0 Inductor names (triton__0d1d2d...) encode only argument hints: ask the launching op"),
    # The C++ rules start only where "cpp_fused" does not continue a word, and scan its fused ops with
    # one lazy \w*? each (no quantifier inside it): linear in the name.
    (r"(?<![a-z0-9])cpp_fused\w*?_(?:mm|bmm|addmm|baddbmm|convolution|linear)(?:_|$)", TC,
     "Inductor C++ (CPU) kernel containing a matmul/conv"),
    (r"(?<![a-z0-9])cpp_fused\w*?(?:_(?:_?softmax|_?log_softmax|native_layer_norm|layer_norm|rms_norm|"
     r"group_norm|mean|sum|var|var_mean|amax|amin|max|min|argmax|argmin|logsumexp|prod|std|norm|"
     r"linalg_vector_norm)|batch_norm)(?:_|$)", NORM, "Inductor C++ kernel containing a reduction/normalization"),
    (rf"(?<![a-z0-9])cpp_fused(?>_+(?:{_MOVE}))+_*\d*$", MEM,
     "Inductor C++ kernel fusing only copies/cat/gather/views"),
    (r"cpp_fused_", EW, "Inductor C++ kernel of fused maps"),
]

KERNEL_RULES = INDUCTOR_RULES + [
    # -- activities and runtime blits --------------------------------------------------
    (r"^(?:memcpy|memset)\b|(?:^|[^a-z])mem(?:set|cpy)_kernel", MEM,
     "CUPTI memcpy/memset activity names ('Memcpy HtoD ...', 'Memset (Device)') and libraries' own memset "
     "kernels (TransformerEngine memset_kernel)"),
    (r"__amd_rocclr_(?:copy|fill)", MEM, "ROCm runtime blit kernels implementing hipMemcpy/hipMemset"),
    # -- communication libraries' local helpers (above their libraries' communication rules) ---------
    (r"deep_ep::(?:\w+::)*(?:clean_low_latency_buffer|clean_mask_buffer|update_mask_buffer|query_mask_buffer|"
     r"dispatch_copy_epilogue)|nvshmemi_(?:init_array|team_index|team_mapping)_kernel", MEM,
     "local buffer set-up and copies of communication libraries, no data across ranks: DeepEP internode_ll "
     "clean_low_latency_buffer and mask buffers, elastic dispatch_copy_epilogue_impl; NVSHMEM team set-up"),
    (r"deep_ep::(?:\w+::)*combine_reduce_epilogue", NORM,
     "DeepEP elastic combine_reduce_epilogue_impl: the local reduction of the combined expert outputs"),
    (r"deep_ep::(?:\w+::)*get_dispatch_layout", OTHER,
     "DeepEP layout::get_dispatch_layout: counts the tokens bound for each rank and expert (bookkeeping)"),
    # -- communication ---------------------------------------------------------------------
    (r"nccl|rccl|msccl|onerankreduce", COMM, "NCCL/RCCL collectives and send/recv (ncclKernel_*, ncclDevKernel_*, "
     "ncclSymkDevKernel_*, mscclKernel_*), and oneRankReduce, NCCL's collective on a one-rank communicator"),
    (r"multimem_|cross_device_reduce|(?:^|[^a-z])all_?(?:reduce|gather|to_?all)|reduce_?scatter|"
     r"userbuffers|lamport|nvshmem|deep_?ep|_on_stream_kernel|c10d::symmetric_memory::|pcie_ipc|"
     r"(?:^|[^a-z])(?:ag|ar|rs)_(?:ll_)?gfx\d", COMM,
     "custom collectives: PyTorch symm_mem multimem all-reduce, vLLM cross_device_reduce, AITER "
     "reduce_scatter_cross_device_store, TensorRT-LLM allreduce/lamport, userbuffers, MSCCL++ kernels "
     "named allgather/allreduce*, NVSHMEM (nvshmemi_*, and the *_on_stream_kernel collectives: barrier, sync, "
     "fcollect, rdxn, broadcast), DeepEP dispatch/combine/notify_dispatch/barrier (deep_ep::intranode::, "
     "internode::, internode_ll::, legacy::, elastic::, Primus-Turbo's port), PyTorch symmetric memory's "
     "c10d::symmetric_memory::barrier/put_signal/wait_signal kernels, FlashInfer comm::pcie_ipc all-reduce, "
     "AITER ag_/ar_/rs_gfx* all-gather/all-reduce/reduce-scatter"),
    (r"moe_?a2a", COMM,
     "TensorRT-LLM MoE expert-parallel all-to-all (moeA2ADispatchKernel, moeA2ACombineKernel)"),
    # -- kernels whose names would hit a later, wrong rule ---------------------------------------
    (r"reshape_and_cache|concat_and_cache|copy_blocks|swap_blocks|copy_page_indices|"
     r"append_?paged_?kv_?(?:mla_?)?cache", MEM,
     "vLLM/FlashInfer KV-cache writes and block copies (FlashInfer AppendPagedKVCache, AppendPagedKVMlaCache)"),
    (r"rotary|(?:^|[^a-z])m?rope", EW,
     "rotary position embedding (vLLM rotary_embedding_kernel, AITER fused_mrope_rms_kv_kernel): sin/cos map"),
    (r"transform_bias_rescale_qkv", EW, "native MHA fast path: QKV bias add and Q scaling"),
    (r"routing|topk_?softmax|moe_?softmax|topkgating|moe_fused_gate|moe_aux_loss", NORM,
     "MoE router: softmax and top-k over expert logits (TRT-LLM routingRenormalize with its "
     "histogram/offset helpers, vLLM topk_softmax, SGLang/AITER moe_fused_gate_kernel, TransformerEngine "
     "fused_router fused_moe_aux_loss)"),
    (r"moe_align|expandinputrows|moe::dev::finalize|finalize_?moe|finalizekernel|unpermute|moe_permute|"
     r"moe_sum|count_and_sort_expert|moe_3stage_sort|sort_scales_kernel", MEM,
     "MoE token permutation: group tokens by expert, then gather rows back (finalize, TRT-LLM "
     "finalizeKernelVecLoad); above the CUTLASS rule because their template arguments name cutlass types"),
    (r"(?:^|[^a-z0-9])ln_(?:fwd|bwd)_|cucompute(?:part)?grad(?:gammabeta|input)", NORM,
     "layer norm kernels whose names do not spell it: TransformerEngine ln_fwd/ln_bwd_tuned/general_kernel, "
     "Apex cuComputePartGradGammaBeta/cuComputeGradInput (norm backward); above the attention rule"),
    (r"fused_attn::(?:cu_seqlens\w*|populate_rng_state\w*|extract_seed_and_offset|get_runtime_num_segments\w*)|"
     r"advance_step_flashattn|prepare_varlen_num_blocks", OTHER,
     "attention set-up, not attention: TransformerEngine fused_attn sequence offsets and RNG state, vLLM "
     "advance_step_flashattn (scheduler bookkeeping), FlashAttention 3 prepare_varlen_num_blocks"),
    (r"(?:un)?swizzle_\w*scaling|multi_(?:un)?padding_kernel|swap_first_dims|convert_(?:bshd_to_thd|thd_to_bshd)|"
     r"thd_read_half_tensor|thd_reorder", MEM,
     "TransformerEngine layout kernels: scale-factor swizzles, padding, THD/BSHD conversions and context-"
     "parallel reorders (above the attention rule: they sit in fused_attn)"),
    # -- attention ------------------------------------------------------------------------------
    (r"flash(?!infer)|fmha|_mha|mha_(?:fwd|bwd)|attention|attn|sdpa|mem_eff|xformers|"
     r"(?:batch|single)(?:prefill|decode)|mergestate|withkvcache|(?:^|[^a-z])(?:sparse_)?mla_|"
     r"(?:^|[^a-z])pa_(?:prefill|decode)|(?:^|[^a-z])gqa_d\d|(?:^|[^a-z])dsa_v\d", ATTN,
     "fused attention: FlashAttention 2 (pytorch_flash::flash_fwd_kernel, flash_fwd_splitkv) and 3 "
     "(cutlass::device_kernel<flash::FlashAttnFwdSm90<...>>), mem-efficient/xFormers CUTLASS fmha "
     "(fmha_cutlassF, AttentionKernel), cuDNN SDPA, TRT-LLM fmhaSm100, vLLM paged_attention_v1/v2 and "
     "Triton kernel_unified_attention_2d, FlashInfer Batch/SinglePrefill/Decode and MergeStates, CK "
     "ck_tile FmhaFwdKernel, AITER kernel_paged_attention_2d, FlashInfer (FP8)PrefillWithKVCache and "
     "POD kernels, sparse_mla decode/prefill, AITER MLA decode (mla_decode_fwd_*, kn_*_mla_*), pa_prefill/"
     "pa_decode, opus gqa_d*, dsa_v32 decode. Not the rest of the flashinfer:: namespace "
     "(norm::RMSNormKernel, activation::act_and_mul_kernel)"),
    # -- tensor contractions -----------------------------------------------------------------
    (r"(?<!fb)(?<!deep_)gemm|gemv|nvjet|cijk_|tensile|hipblaslt|rocblas", TC,
     "GEMM/GEMV: cuBLAS (sm80/sm90/sm100_xmma_gemm, ampere/volta/turing *gemm*, gemv2T, gemvx, gemmk1, "
     "gemmSN), cuBLASLt nvjet_*, magma, DeepGEMM (deep_gemm::sm90_fp8_gemm_1d2d_impl), Tensile/hipBLASLt "
     "Cijk_* on AMD, CK ck::kernel_gemm_xdl_cshuffle_v3, MIOpen igemm. Not the fbgemm:: or deep_gemm:: "
     "namespaces alone (deep_gemm::transpose_and_pack_fp32_into_ue8m0 is a layout kernel)"),
    (r"cublas|splitkreduce|epilogue::|(?:^|[^a-z_])(?:dot|scal|axpy|asum|nrm2)_kernel", TC,
     "cuBLAS helpers launched inside a GEMM call: split-K reduce, cuBLASLt epilogue, level-1 dot/scal"),
    (r"cutlass", TC, "CUTLASS GEMM/conv kernels (cutlass::Kernel2<cutlass_80_tensorop_*gemm*>, cutlass_cudnn)"),
    (r"^bmm_|fused_moe_kernel|moe_gemm|grouped_?(?:gemm|mm)|marlin|machete|scaled_mm|wgmma|matmul|wv_?splitk|"
     r"opus_moe_stage\d", TC,
     "MoE / quantised grouped GEMMs and Triton matmuls by name: TRT-LLM bmm_*, vLLM fused_moe_kernel, "
     "Marlin/Machete, vLLM/SGLang _w8a8_block_fp8_matmul (above the fp8 quant rule), AITER skinny GEMMs "
     "wvSplitK* and opus_moe_stage1/2 MoE GEMMs"),
    (r"nchwtonhwc|nhwctonchw|nchw2nhwc|nhwc2nchw|transpose|permute", MEM,
     "layout transforms (cuDNN NCHW<->NHWC, transpose/permute kernels): pure data movement"),
    (r"bn_fw|bn_bw|batch_?norm", NORM, "batch norm (cuDNN bn_fw_tr_1C11/bn_bw_1C11, MIOpen BatchNorm)"),
    (r"scalepackedtensor", EW, "cuDNN alpha/beta scaling of a tensor: a map"),
    (r"conv(?!ert)|cudnn|winograd|wgrad|dgrad|fprop|im2col|col2im|fft2d|cask_|miopen", TC,
     "convolutions: cuDNN implicit/explicit GEMM, Winograd, FFT, wgrad/dgrad engines and their "
     "cask_* offset helpers, MIOpen"),
    # -- normalizations ---------------------------------------------------------------------
    (r"softmax", NORM, "softmax / log-softmax (cunn_SoftMaxForward, softmax_warp_forward)"),
    (r"layer_?norm|rms_?norm|rowwisemoments|gammabetabackward|group_?norm|instance_?norm|welford", NORM,
     "layer/RMS/group norm (vectorized_layer_norm_kernel, LayerNormForwardCUDAKernel, RowwiseMoments, "
     "GammaBetaBackward, vLLM rms_norm/fused_add_rms_norm)"),
    # -- element-wise maps that later memory rules would catch ---------------------------------
    (r"(?:^|::)(?:unary_)?operator_(?:bcast|contiguous|tn_big_tile|element)", EW,
     "AITER binary and unary operator kernels (operator_bcast*, operator_contiguous*, unary_operator_tile): "
     "broadcast add/sub/mul/div maps (above the pad/index memory rules their names would hit)"),
    (r"masked_fill|masked_scale|elementwise_kernel_with_index|arange|distribution_|dropout|upsample", EW,
     "masked fill/scale, dropout, arange, random generators, upsampling: maps (above the index rule: "
     "upsample kernels name a source_index helper)"),
    (r"quant|fp8|fp4|mxfp", EW,
     "(de)quantisation: casts with a scale (vLLM scaled_fp8_quant, TRT-LLM quantize_with_block_size, "
     "FBGEMM FP8/HFP8 rowwise); the amax of a dynamic scale is folded in"),
    # -- data movement ----------------------------------------------------------------------------
    (r"fbgemm|split_embedding|dense_embedding|permute_pooled_embs|recat_|linearize_index|"
     r"bounds_check_indices|bucketize_sparse|jagged|to_dense_representation", MEM,
     "FBGEMM table-batched embeddings (row gathers; backward row updates) and sparse index utilities"),
    (r"cub::\w*(?:radixsort|scan|select|compact|reducebykey|histogram|runlength|unique|merge|partition)|"
     r"thrust|sort|topk|top_k|unique|nonzero|searchsorted|(?:^|[^a-z])spin_kernel", OTHER,
     "sort/scan/compaction primitives (cub/thrust radix sort, scans: behind sort, topk, unique, "
     "nonzero) and test spin kernels: outside the paper's classes"),
    (r"index|gather|scatter|embedding|(?:^|[^a-z])take", MEM,
     "index/gather/scatter/embedding (index_elementwise_kernel, indexSelectLargeIndex, "
     "_scatter_gather_elementwise_kernel, vectorized_gather_kernel): data moved by index"),
    (r"catarray|(?:^|[^a-z])cat_|copy|fillfunctor|(?:^|[^a-z])fill_kernel|(?:^|[^a-z])stack", MEM,
     "copies, casts, cat, fill (CatArrayBatchedCopy, direct_copy_kernel_cuda, bfloat16_copy_kernel_cuda, "
     "copy_device_to_device, FillFunctor): no arithmetic on the values"),
    # -- reductions -----------------------------------------------------------------------------
    (r"reduce|reduction|classnllcriterion|nll_loss|cross_entropy|pool|(?:^|[^a-z])(?:sum|mean|amax|amin|"
     r"argmax|argmin|norm|cumsum|logsumexp)_?kernel", NORM,
     "reductions (at::native::reduce_kernel with sum/mean/max/norm ops, cub DeviceReduce, NLL loss, "
     "pooling): the reduction half of the paper's normalization pattern"),
    # -- element-wise -----------------------------------------------------------------------------
    (r"elementwise|pointwise|multi_tensor_apply|foreach|functor|act_and_mul|gelu|silu|relu|tanh|sigmoid|"
     r"clamp|threshold|where|addcmul|addcdiv|lerp|adam|upsample|nan_to_num", EW,
     "element-wise maps: TensorIterator kernels (vectorized/unrolled elementwise_kernel with add/mul/... "
     "functors), activations, optimizer multi_tensor_apply"),
]

# Fallback when no kernel rule decides: words of the name. The name (without its
# parameter list) is split into lower-case tokens at every non-alphanumeric
# character and camelCase boundary, joined by "_" ("moeA2ADispatchKernel" ->
# "moe_a2_a_dispatch_kernel"); each pattern must cover whole tokens. The first
# matching line decides, so communication words come before "reduce" and
# attention before the contraction words it contains.
_TOKEN = r"(?:^|_)(?:{})(?:_|$)"
TOKEN_RULES = [
    (_TOKEN.format(r"all_?to_?all|alltoall|a2a|all_?gather|allgather|reduce_?scatter|all_?reduce|allreduce|"
                   r"dispatch|combine|send|recv|sendrecv|broadcast|p2p|nvshmem\w*|nccl_?dev\w*"), COMM,
     "collective and point-to-point words: expert-parallel dispatch/combine, all-to-all, send/recv"),
    (_TOKEN.format(r"attn|attention|fmha|mha|sdpa"), ATTN, "attention words"),
    (_TOKEN.format(r"[a-z]*gemm[a-z]*|gemv|matmul|(?:wg|hg|u)?mma|dot|bmm|mm|conv\d?d?|einsum"), TC,
     "contraction words: gemm, matmul, (wg/hg)mma tensor-core instructions, dot, conv"),
    (_TOKEN.format(r"[a-z]*norm|softmax|reduce|reduction|sum|mean|argmax|argmin|amax|logsumexp|welford|moments"),
     NORM, "normalization and reduction words"),
    (_TOKEN.format(r"copy|memcpy|cast|transpose|fill|cat|concat|gather|scatter|permute|pad|index|pack|unpack|"
                   r"zero|zeros"), MEM, "data movement words: copy, cast, transpose, fill, cat, gather, pack"),
    (_TOKEN.format(r"add|mul|sub|div|relu|gelu|silu|swiglu|geglu|act|activation|sigmoid|tanh|exp|scale|quant|"
                   r"dequant|rope|dropout|bias|clamp"), EW, "element-wise map words: arithmetic, activations, "
     "(de)quantisation"),
]

# CPU op rules. Names are first normalised (see classify.op_key): namespace kept as
# "ns::" prefix ("aten::" dropped), autograd wrappers ("AddmmBackward0") turned into
# their op ("addmm"), CamelCase to snake_case, trailing "_" (in-place) dropped.
# Names with spaces (markers like "Torch-Compiled Region: 0/0") are matched as is.
_NAME = r"(?:^|::)(?:{})$"
_POINTWISE = (
    "add|sub|rsub|mul|div|true_divide|floor_divide|pow|sqrt|rsqrt|exp|exp2|expm1|log|log2|log10|log1p|"
    "sin|cos|tan|tanh|sigmoid|logit|erf|erfc|erfinv|gelu|silu|relu|relu6|leaky_relu|elu|selu|celu|"
    "hardtanh|hardswish|hardsigmoid|mish|softplus|softsign|threshold|neg|abs|sign|sgn|reciprocal|floor|"
    "ceil|round|trunc|frac|fmod|remainder|clamp|clamp_min|clamp_max|clip|where|masked_fill|lerp|addcmul|"
    "addcdiv|maximum|minimum|fmax|fmin|eq|ne|lt|le|gt|ge|logical_\\w+|bitwise_\\w+|isnan|isinf|isfinite|"
    "nan_to_num|dropout|native_dropout|feature_dropout|bernoulli|normal|uniform|rand|randn|randint|"
    "rand_like|randn_like|arange|linspace|square|tril|triu|_foreach_\\w+|_fused_adamw?|_fused_sgd|"
    "accumulate_grad|\\w*_and_mul|rotary_embedding|apply_rotary\\w*|\\w*quant\\w*|_?upsample\\w*|"
    "grid_sampler\\w*|_?masked_scale|_?fused_dropout|polar|complex|copysign|hypot|atan2|xlogy|heaviside"
)
OP_RULES = INDUCTOR_RULES + [
    (r"^(?:c10d|_?c10d_functional|nccl|gloo|symm_mem|_c_custom_ar|trtllm)::|^nccl:|record_param_comms|"
     r"(?:^|::)(?:all_?reduce|all_gather\w*|reduce_scatter\w*|all_to_all\w*|alltoall\w*)$", COMM,
     "torch.distributed / c10d collectives, vLLM and TRT-LLM all-reduce ops"),
    (r"rotary|rope", EW, "rotary position embedding ops (before the embedding gather rule)"),
    (r"attention|attn|sdpa|(?:^|::)_fused_sdp\w*", ATTN,
     "scaled_dot_product_attention and its flash/efficient/cudnn/math variants, vLLM attention ops"),
    (_NAME.format(r"mm|bmm|addmm|addmv|addbmm|baddbmm|addr|matmul|linear|mv|dot|vdot|einsum|tensordot|"
                  r"outer|ger|_scaled_mm|_int_mm|_addmm_activation|_?grouped_mm|_scaled_grouped_mm|"
                  r"mkldnn_linear|_mkldnn\w*|\w*conv(?:\d|olution|_transpose|_depthwise|_tbc)\w*|"
                  r"\w*gemm\w*|\w*scaled_mm|moe_forward|fused_moe\w*|fused_experts|linear_\w+"), TC,
     "matmul family and convolutions (aten::mm/addmm/bmm/linear/matmul/conv*, vLLM moe_forward)"),
    (r"softmax|layer_norm|rms_norm|group_norm|batch_norm|instance_norm|" + _NAME.format(
        r"norm|sum|mean|var|std|var_mean|std_mean|amax|amin|max|min|aminmax|argmax|argmin|logsumexp|"
        r"prod|cumsum|cumprod|all|any|count_nonzero|nansum|nanmean|median|renorm|normalize|"
        r"linalg_vector_norm|\w*pool\w*|\w*loss\w*|nll_\w+|cross_entropy\w*|\w*cross_entropy\w*"), NORM,
     "softmax, layer/RMS/batch norm and reductions (sum, mean, max, losses, pooling)"),
    (_NAME.format(r"copy|_to_copy|_copy_from\w*|clone|cat|_cat|stack|hstack|vstack|concat|concatenate|"
                  r"index|index_select|index_put|_index_put_impl|index_add|index_copy|index_fill|"
                  r"index_reduce|gather|scatter|scatter_add|scatter_reduce|\w*embedding\w*|take|"
                  r"take_along_dim|masked_select|masked_scatter|fill|zero|zeros|zeros_like|ones|"
                  r"ones_like|full|full_like|new_zeros|new_ones|new_full|scalar_tensor|repeat|"
                  r"repeat_interleave|tile|flip|roll|pad|constant_pad_nd|\w*_pad\d?d|narrow_copy|"
                  r"\w*_scatter|_local_scalar_dense|item|to_dense|\w*_copy|\w*cache\w*|permute_\w+|"
                  r"_unsafe_index\w*|nonzero_static|\w*(?:select|slice|index|gather|unfold)_backward|"
                  r"split_embedding\w*"), MEM,
     "copies, casts, cat, fill/zeros, index/gather/scatter/embedding, KV-cache writes, .item()"),
    (_NAME.format(_POINTWISE) + r"|(?:^|::)\w+_backward$", EW,
     "pointwise aten ops (+ - * / pow, activations, dropout, where, optimizer foreach, rotary, quant); "
     "other *_backward ops left are pointwise gradients (threshold_backward, gelu_backward, ...)"),
    (_NAME.format(r"view|_unsafe_view|reshape|_reshape_alias|as_strided|expand|expand_as|broadcast_to|"
                  r"broadcast_tensors|transpose|t|numpy_t|permute|squeeze|unsqueeze|select|slice|narrow|"
                  r"split|split_with_sizes|chunk|unbind|unflatten|flatten|movedim|alias|detach|lift|"
                  r"lift_fresh|resolve_conj|resolve_neg|conj|_conj|_neg_view|result_type|empty|"
                  r"empty_strided|empty_like|new_empty|new_empty_strided|resize|resize_as|set|size|"
                  r"stride|to|type_as|contiguous|record_stream|view_as|view_as_real|view_as_complex|"
                  r"diagonal|real|imag|unfold|_shape_as_tensor|is_nonzero|is_same_size|_assert\w*|"
                  r"sym_\w+|_has_compatible_shallow_copy_type|graphed|unsafe_view"), None,
     "views, metadata and allocation: no data work of their own"),
    (r"^(?:profiler_?step|profilerstep|torch-compiled region|torchdynamo|pregraph bytecode|aotdispatcher|"
     r"compiled_?function|## |optimizer\.|enumerate\(dataloader\))", None,
     "profiler/compiler markers and wrappers: their children do the work"),
]
