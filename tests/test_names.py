"""The one kernel-name shortener, shared by the terminal and the HTML report; and number formatting."""

import io
import math

import pytest
from rich.console import Console

import profkit
from profkit.report import console, fmt
from profkit.report.names import short_name
from tests.conftest import all_real_traces, real_trace, summary_json

CUTLASS = ("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_128x128_16x5_tn_align4>"
           "(cutlass_80_tensorop_s1688gemm_128x128_16x5_tn_align4::Params)")


@pytest.mark.parametrize("name, short", [
    (CUTLASS, "cutlass_80_tensorop_s1688gemm_128x128_16x5_tn_align4 [cutlass::Kernel2]"),
    ("void at::native::elementwise_kernel<4, at::native::MulFunctor<float>>(int, at::native::MulFunctor<float>)",
     "at::native::elementwise_kernel [MulFunctor, float]"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::elu_kernel("
     "at::TensorIteratorBase&, c10::Scalar const&)::{lambda()#1}, at::detail::Array<char*, 2> >(int)",
     "at::native::vectorized_elementwise_kernel [elu_kernel, char]"),
    ("std::enable_if<!(false), void>::type internal::gemvx::kernel<int, int, float, float>(float const*)",
     "internal::gemvx::kernel [int]"),
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_kernel__5x_cublas",
     "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_kernel__5x_cublas"),
    ("triton_poi_fused_add_0", "triton_poi_fused_add_0"),
    ("Memcpy HtoD (Pageable -> Device)", "Memcpy HtoD (Pageable -> Device)"),
])
def test_short_names_keep_what_tells_kernels_apart(name, short):
    assert short_name(name) == short
    assert short_name(name, limit=20) == (short if len(short) <= 20 else short[:19] + "…")


def test_gemm_tilings_stay_distinct_on_every_real_trace():
    """Distinct CUTLASS/cuBLAS GEMM tilings never collapse into one short name. (Templates that
    differ only in numeric parameters, e.g. magma_sgemmEx_kernel<float, float, 64, 8, ...>, do:
    their full name is the HTML cell's title and the JSON's kernels[].name.)"""
    paths = all_real_traces()
    if not paths:
        pytest.skip("../shared not available")
    seen = {}
    for path in paths:
        for name in profkit.load(path).gpu["name"].astype(str).unique():
            if "gemm" in name.lower() and ("cutlass" in name or not name.startswith("void ")):
                seen.setdefault(short_name(name), set()).add(name.split("(")[0])
    assert all(len(full) == 1 for full in seen.values()), [s for s, f in seen.items() if len(f) > 1]


def test_terminal_and_html_label_a_kernel_the_same_way(tmp_path):
    from profkit.analysis.summary import summarize
    from profkit.report.build import build_report

    path = real_trace("kineto-rtx5080-mlp-train-eager.json.gz")
    s = summarize(profkit.load(path))
    out = io.StringIO()
    console.render(s, console=Console(file=out, width=240), top=3)
    html = build_report([path], tmp_path / "r.html", hta=False).read_text()
    for k in s.kernels[:3]:
        assert short_name(k.name) in out.getvalue()
        assert f'title="{k.name}">{short_name(k.name, limit=80)}<' in html.replace("&lt;", "<").replace("&gt;", ">")
    assert summary_json(profkit.load(path))["kernels"][0]["name"] == s.kernels[0].name  # the JSON keeps the full name


def test_number_formats():
    assert (fmt.ms(866.4), fmt.ms(11600.0), fmt.ms(None), fmt.ms(math.nan)) == ("0.866 ms", "11.6 ms", "—", "—")
    assert (fmt.duration(0.0), fmt.duration(279.4), fmt.duration(1120.0), fmt.duration(2.5e6)) == \
        ("0.0 µs", "279.4 µs", "1.12 ms", "2.50 s")
    assert (fmt.pct(0.03), fmt.pct(65.64), fmt.pct(None)) == ("0.03%", "65.6%", "—")
    assert (fmt.num(1234.5), fmt.num(34.0, 1), fmt.plain(None, ".1f"), fmt.plain(2.25, ".1f")) == \
        ("1,234", "34.0", "—", "2.2")
    assert (fmt.auto(1234.0), fmt.auto(12.34), fmt.auto(1.234), fmt.auto(0.1234), fmt.auto(None)) == \
        ("1,234", "12.3", "1.23", "0.123", "—")
