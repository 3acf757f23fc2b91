"""The one kernel-name shortener, shared by the terminal and the HTML report; and number formatting."""

import io
import math

import pytest
from rich.console import Console

import profkit
from profkit.report import console, fmt
from profkit.report.names import short_name
from tests.helpers.report import headline
from tests.helpers.traces import all_real_traces, real_trace, summary_json

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
    from profkit.analysis.analyze import summarize
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
    # A whole number is a count: no decimals (issue 11: "Launches per step 5,470.0"); a median of counts may be x.5.
    assert (fmt.num(1234.5), fmt.num(34.0, 1), fmt.num(34.5, 1), fmt.plain(None, ".1f"), fmt.plain(2.25, ".1f")) == \
        ("1,234", "34", "34.5", "—", "2.2")
    assert (fmt.auto(1234.0), fmt.auto(12.34), fmt.auto(1.234), fmt.auto(0.1234), fmt.auto(None)) == \
        ("1,234", "12.3", "1.23", "0.123", "—")


def test_views_do_not_claim_gpu_work_without_kernel_events(tmp_path):
    from profkit.analysis.analyze import summarize
    from profkit.report.build import build_report

    path = real_trace("kineto-a100-edgecase-no-kernel-events.json.gz")
    out = io.StringIO()
    console.render(summarize(profkit.load(path)), console=Console(file=out, width=200))
    text = out.getvalue()
    assert "no kernel events" in text and "CPU ops busy" in text and "Top 10 ops" in text
    assert "GPU busy" not in text.replace("no GPU busy time", "")
    html = build_report([path], tmp_path / "r.html", hta=False).read_text()
    assert "GPU busy %" not in html and headline(html, "Busy % (GPU; CPU op coverage on CPU traces)")


def test_terminal_at_100_columns_shows_findings_gaps_and_distinct_gemms():
    from profkit.analysis.analyze import summarize

    path = real_trace("kineto-rtx5080-mlp-train-eager.json.gz")
    s = summarize(profkit.load(path))
    out = io.StringIO()
    console.render(s, console=Console(file=out, width=100), top=10)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    findings = text[text.index("Findings"):text.index("Largest idle gaps")]
    assert "launch_bound" in findings and "try: Replay the step as a CUDA graph" in findings
    assert "evidence: idle 65.6%" in findings
    # The largest gaps, with cause and the kernels on each side.
    gaps = text[text.index("Largest idle gaps"):text.index("Time by class")]
    largest = s.gaps.largest[0]
    assert f"{largest.dur_us:.1f} µs" in gaps and "host-bound" in gaps
    # Seven CUTLASS GEMM tilings in the top ten, each row a different name (no "cutlass::Kernel2" x 7).
    top = text[text.index("Top 10 kernels"):text.index("Efficiency vs")]
    rows = [line for line in top.splitlines() if "tensor_contraction" in line]
    names = [line.split("│")[-2].strip() for line in rows]
    assert len(rows) == 7 and len(set(names)) == 7 and not any(n.startswith("cutlass::Kernel2") for n in names)


def test_job_view_prints_findings_per_rank(tmp_path):
    import shutil

    from profkit.analysis.options import AnalysisOptions
    from profkit.analysis.ranks import job, run

    for r in (0, 1):
        shutil.copy(real_trace(f"kineto-v100x8-dlrm-train-rank{r}.json.gz"), tmp_path / f"rank{r}.json.gz")
    j = job(run(sorted(tmp_path.iterdir()), options=AnalysisOptions()), tmp_path)
    out = io.StringIO()
    console.render_job(j, console=Console(file=out, width=100))
    text = out.getvalue()
    assert "rank 0" in text and "rank 1" in text and text.count("Findings") == 2


def test_evidence_numbers_read_by_their_unit():
    assert fmt.evidence("host_bound_us", 10798.6) == ("host bound", "10.80 ms")
    assert fmt.evidence("idle_pct", 65.64) == ("idle", "65.6%")
    assert fmt.evidence("launches_per_step", 34) == ("launches per step", "34")
    assert fmt.evidence("median_rows_m", 141) == ("median rows m", "141")
