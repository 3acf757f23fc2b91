"""profkit report on a sweep folder: content, published-form tables, escaping, atomic write, browser."""

import csv
import html
import json
import re

import pytest

import profkit.sweep.run as sweep_run
from profkit.errors import OutOfMemory, ProfkitError
from profkit.report.sweep import build_sweep_report, load_sweep
from profkit.sweep.grid import make_plan
from profkit.sweep.run import run_sweep
from tests.helpers.chromium import Browser, find_chromium
from tests.helpers.cli import main_exit
from tests.helpers.models import tiny_gpt2_config

EVIL = "</script><script>window.__pwned=1</script>\"'&<b>x</b>"
EVIL_DIR = "m<img src=x onerror=window.__pwned=2>"
FAST = {"device": "cpu", "warmup": 0, "steps": 1}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweeps")
    model_dir = d / EVIL_DIR
    model_dir.mkdir()
    tiny_gpt2_config(n_layer=1, n_head=4, n_embd=16, vocab_size=53, initializer_range=0.02).to_json_file(
        model_dir / "config.json")
    calibration = d / "calibration.json"
    calibration.write_text(json.dumps({"bandwidth_gbs": 10.0, "tflops": {"fp32": 0.05}}))
    real = sweep_run.capture_run

    def capture(cfg, *args, **kw):
        if cfg.batch == 4:
            raise OutOfMemory("out of memory at batch 4")
        if cfg.batch == 2 and cfg.prompt_len == 16:
            raise ProfkitError(EVIL)
        return real(cfg, *args, **kw)

    sweep_run.capture_run = capture
    try:
        plan = make_plan("gpt2", models=str(model_dir), batches="1,2,4,8", prompt_lens="8,16", kv_groups="1,2",
                         new_tokens=3, **FAST)
        gpt2 = d / "gpt2"
        run_sweep(plan, gpt2, command=f"profkit sweep --model {model_dir}", calibration=calibration)
    finally:
        sweep_run.capture_run = real
    sdpa = d / "sdpa"
    run_sweep(make_plan("sdpa", batches="2,4", rows="16,32", cols="8", **FAST), sdpa, calibration=calibration)
    return {"gpt2": gpt2, "sdpa": sdpa, "dir": d}


def rows_of(folder):
    with open(folder / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def table_html(page, title):
    """The <table> that follows a tables-section heading."""
    start = page.index(f"<h3>{title}<span")
    return page[start:page.index("</table>", start)]


def cells(table, batch):
    row = re.search(rf'<tr><th scope="row">{batch}</th>(.*?)</tr>', table).group(1)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td.*?</td>", row)]


def test_gpt2_sweep_page_content(sweeps, tmp_path):
    out = build_sweep_report(sweeps["gpt2"], tmp_path / "gpt2.html")
    page = out.read_text()
    for heading in ("Running time vs batch", "Peak memory vs batch", "Throughput vs batch, per mode",
                    "Running time vs sequence length", "Measured / roofline limit", "Grouped K/V heads"):
        assert f"<h3>{heading}</h3>" in page
    t = table_html(page, "End-to-end time")
    # Published form: rows = batch, columns = prompt length within each model/groups/mode.
    assert t.count("S=8") == 2 and t.count("S=16") == 2 and "kv-groups 2 eager" in t
    rows = {(r["kv_groups"], r["prompt_len"], r["batch"]): r for r in rows_of(sweeps["gpt2"])}
    want = float(rows["1", "8", "1"]["total_ms"])
    got = cells(t, 1)[0].replace(",", "")
    assert float(got) == pytest.approx(want, rel=0.01, abs=0.0006)
    assert cells(t, 4) == ["OOM"] * 4 and cells(t, 8) == ["skipped"] * 4
    assert cells(t, 2)[1] == "error" and cells(t, 2)[0] != "error"
    # Measured / limit = TTFT / the roofline bound the sweep stored, for every G.
    ratio = cells(table_html(page, "TTFT / roofline limit"), 1)
    for col, g in ((0, "1"), (2, "2")):
        r = rows[g, "8", "1"]
        want = float(r["ttft_ms"]) / float(r["ttft_limit_ms"])
        assert float(ratio[col].replace(",", "")) == pytest.approx(want, rel=0.01)
    # G = 2 moves fewer bytes (half the K/V weights and cache), so its limit is lower.
    assert float(rows["2", "8", "1"]["ttft_limit_ms"]) < float(rows["1", "8", "1"]["ttft_limit_ms"])
    assert "Some points ran faster than the limit" not in page  # the test's peaks are far too high for that
    kv1, kv2 = float(rows["1", "16", "1"]["kv_cache_mib"]), float(rows["2", "16", "1"]["kv_cache_mib"])
    assert kv1 == pytest.approx(2 * kv2, rel=1e-4)  # G=2 halves the KV cache
    assert kv1 == pytest.approx(2 * 1 * 1 * 16 * (16 + 3) * 4 / 2**20, rel=1e-4)  # K,V x layer x batch x h x pos x 4 B
    assert float(cells(table_html(page, "KV cache"), 1)[1]) == pytest.approx(kv1, abs=0.0006)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    assert "absolute values. KV cache is analytical" in text
    # One timed run per point (steps=1): no spread can be measured, so every timing cell is marked noisy.
    r = rows["1", "8", "1"]
    assert r["noise"] == "noisy" and r["cv_pct"] == "" and float(r["min_ms"]) == float(r["max_ms"])
    assert 'class="noisy" title="noisy: timed runs' in t
    assert 'class="noisy"' not in table_html(page, "KV cache")  # memory is not a timing


def test_sweep_page_escapes_everything(sweeps, tmp_path):
    page = build_sweep_report(sweeps["gpt2"], tmp_path / "evil.html").read_text()
    assert "window.__pwned" in page  # the strings are there ...
    assert "<img src=x" not in page and "<script>window.__pwned" not in page  # ... only as text
    assert html.escape(EVIL_DIR) in page  # the command, in <pre>
    assert page.count("<script") == 3  # figures JSON, plotly.js once, the page script
    assert page.count("* plotly.js v") == 1  # embedded once
    figures = page[page.index('id="profkit-figures">'):]
    figures = figures[:figures.index("</script>")]
    assert "<" not in figures.split(">", 1)[1]


def test_sdpa_page_and_cli(sweeps, tmp_path):
    out = tmp_path / "sdpa.html"
    assert main_exit("report", sweeps["sdpa"], "-o", out) == 0
    page = out.read_text()
    assert "<h3>Attention vs getting the data there</h3>" in page and "no host-to-device copy" in page
    t = table_html(page, "Attention")
    assert "16×8" in t and "32×8" in t and t.index("16×8") < t.index("32×8")
    rows = {(r["batch"], r["rows"]): float(r["attention_ms"]) for r in rows_of(sweeps["sdpa"])}
    assert float(cells(t, 4)[1].replace(",", "")) == pytest.approx(rows["4", "32"], rel=0.01, abs=0.0006)
    assert "Host-to-device copy of Q/K/V<span" not in page  # no such column on a CPU run


def test_bad_folder_keeps_the_previous_report(sweeps, tmp_path):
    out = tmp_path / "keep.html"
    out.write_text("previous")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.csv").write_text("point\n")
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(ProfkitError, match="not a readable sweep manifest"):
        build_sweep_report(broken, out)
    assert out.read_text() == "previous"
    _, df, dropped = load_sweep(sweeps["gpt2"])
    assert dropped == 0 and len(df) == 16


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed")
def test_sweep_page_in_a_browser(sweeps, tmp_path):
    out = build_sweep_report(sweeps["gpt2"], tmp_path / "browser.html")
    b = Browser(find_chromium(), tmp_path / "profile")
    try:
        b.open_page()
        b.navigate(out.resolve().as_uri())
        b.evaluate("new Promise(r => setTimeout(r, 300))")
        charts = b.evaluate("""Array.from(document.querySelectorAll('div.chart')).map(el => ({
            id: el.id, rendered: el.getAttribute('data-rendered'), traces: el.querySelectorAll('g.trace').length}))""")
        pwned = b.evaluate("window.__pwned === undefined ? null : window.__pwned")
        b.screenshot(tmp_path / "sweep.png")
        assert b.console_errors() == [] and pwned is None
        assert len(charts) == 6 and all(c["rendered"] == "1" and c["traces"] > 0 for c in charts), charts
    finally:
        b.close()


def test_ratio_below_one_is_called_out(tmp_path):
    """A point faster than its roofline limit means the peaks are wrong; the page says so."""
    slow_peaks = tmp_path / "calibration.json"
    slow_peaks.write_text(json.dumps({"bandwidth_gbs": 1e-6, "tflops": {"fp32": 1e-9}}))
    folder = tmp_path / "sweep"
    run_sweep(make_plan("sdpa", batches="2", rows="16", cols="8", **FAST), folder, calibration=slow_peaks)
    row = rows_of(folder)[0]
    assert float(row["attention_ms"]) < float(row["attention_limit_ms"])
    assert "Some points ran faster than the limit" in build_sweep_report(folder, tmp_path / "r.html").read_text()
