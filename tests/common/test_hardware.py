"""Device peak table, device-name matching, CPU calibration."""

import gzip
import json
import re

import orjson
import pytest

from tests.helpers.traces import all_real_traces, real_trace
from profkit.common import hardware
from profkit.common.hardware import CPU_NAME, Device, load_calibration, match_device, trace_device
from profkit.cli import main
from profkit.errors import ProfkitError
from profkit.trace import load

REQUIRED = ["v100-sxm2-16gb", "v100-sxm2-32gb", "a100-sxm4-40gb", "a100-sxm4-80gb", "a100-pcie-40gb",
            "a100-pcie-80gb", "a10g", "l4", "rtx-2080-ti", "rtx-3090", "rtx-4090", "rtx-5080",
            "h100-sxm", "h100-pcie", "h800-sxm", "h200-sxm", "b200", "mi250-gcd", "mi250x-gcd",
            "mi300x", "quadro-gp100"]


def test_table_is_complete_and_sourced():
    devs = {d.key: d for d in hardware.devices()}
    assert set(REQUIRED) <= set(devs)
    for d in devs.values():
        assert re.search(r"https?://|whitepaper|datasheet", d.source), d.key
        assert d.bandwidth_gbs > 0
        assert set(d.tflops) == {"fp32", "tf32", "fp16", "bf16", "fp8"}
        assert d.tflops["fp32"] > 0 and d.tflops["fp16"] >= d.tflops["fp32"]
    # Spot checks against the datasheets (dense figures, not the 2:4 sparse ones).
    assert devs["h100-sxm"].tflops["bf16"] == pytest.approx(989.4)
    assert devs["h100-sxm"].bandwidth_gbs == 3350
    assert devs["a100-sxm4-80gb"].bandwidth_gbs == 2039 and devs["a100-pcie-80gb"].bandwidth_gbs == 1935
    assert devs["rtx-4090"].bandwidth_gbs == 1008
    assert devs["v100-sxm2-32gb"].tflops["bf16"] is None          # Volta has no BF16
    assert devs["mi300x"].tflops["fp8"] == pytest.approx(2614.9)


def test_every_device_has_a_sourced_l2_size():
    devs = {d.key: d for d in hardware.devices()}
    for d in devs.values():
        assert d.l2_mb > 0 and re.search(r"https?://", d.l2_source), d.key
    # Spot checks against the whitepapers (KB / 1024).
    assert devs["v100-sxm2-32gb"].l2_mb == 6 and devs["a100-pcie-80gb"].l2_mb == 40
    assert devs["h100-sxm"].l2_mb == 50 and devs["rtx-2080-ti"].l2_mb == 5.5
    assert devs["rtx-4090"].l2_mb == 72 and devs["rtx-5080"].l2_mb == 64 and devs["mi250-gcd"].l2_mb == 8


def _device_properties(path):
    doc = orjson.loads(gzip.open(path).read())
    return doc.get("deviceProperties") or [] if isinstance(doc, dict) else []


# Expected key for every device found in ../shared/traces/real (name, numSms).
EXPECTED = {("AMD Radeon Graphics", 104): "mi250-gcd",
            ("NVIDIA A100-PG509-200", 108): "a100-sxm4-40gb",
            ("Tesla V100-SXM2-32GB", 80): "v100-sxm2-32gb",
            ("Tesla V100-SXM2-16GB", 80): "v100-sxm2-16gb",
            ("NVIDIA A100-SXM4-80GB", 108): "a100-sxm4-80gb",
            ("Quadro GP100", 56): "quadro-gp100",
            ("NVIDIA A100 80GB PCIe", 108): "a100-pcie-80gb",
            ("NVIDIA B200", 148): "b200",
            ("NVIDIA H100", 132): "h100-sxm",
            ("NVIDIA H100 80GB HBM3", 132): "h100-sxm",
            ("NVIDIA GeForce RTX 2080 Ti", 68): "rtx-2080-ti",
            ("NVIDIA GeForce RTX 5080", 84): "rtx-5080"}


@pytest.mark.shared
def test_every_real_trace_device_is_matched(shared_dir):
    seen = set()
    for path in all_real_traces():
        for props in _device_properties(path):
            key = (props["name"], props.get("numSms"))
            dev = match_device(props["name"], props)
            assert dev is not None, key
            assert dev.key == EXPECTED[key], (key, dev.key)
            seen.add(key)
    assert seen == set(EXPECTED)


def test_ambiguous_names_need_properties():
    # One name, several parts: without numSms / memory the answer is "unknown".
    assert match_device("NVIDIA H100") is None
    assert match_device("AMD Radeon Graphics") is None
    assert match_device("AMD Instinct MI250X/MI250") is None
    assert match_device("NVIDIA A100-PG509-200") is None
    assert match_device("NVIDIA H100", {"numSms": 114}).key == "h100-pcie"
    assert match_device("AMD Radeon Graphics", {"numSms": 304}).key == "mi300x"
    assert match_device("AMD Instinct MI250X/MI250", {"numSms": 110}).key == "mi250x-gcd"
    assert match_device("NVIDIA A100-PG509-200", {"totalGlobalMem": 80 * 2**30}).key == "a100-sxm4-80gb"
    # Names that spell the part out need nothing else.
    for name, key in [("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H800", "h800-sxm"),
                      ("NVIDIA H200", "h200-sxm"), ("NVIDIA A10G", "a10g"), ("NVIDIA L4", "l4"),
                      ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA GeForce RTX 3090", "rtx-3090"),
                      ("NVIDIA A100-PCIE-40GB", "a100-pcie-40gb"), ("AMD Instinct MI300X", "mi300x")]:
        assert match_device(name).key == key, name
    for unknown in ("NVIDIA L40S", "NVIDIA GeForce RTX 3090 Ti", "Intel Data Center GPU Max", "", None):
        assert match_device(unknown) is None


def test_peak_by_dtype_and_overrides():
    h100 = match_device("NVIDIA H100 80GB HBM3")
    assert h100.peak_tflops("c10::BFloat16") == pytest.approx(989.4)
    assert h100.peak_tflops("float") == 67            # FP32 GEMMs: no TF32 unless enabled
    assert h100.peak_tflops("long int") is None
    o = h100.with_overrides(peak_bw=3000, peak_tflops=500)
    assert o.bandwidth_gbs == 3000 and o.peak_tflops("c10::Half") == 500 and "--peak-bw" in o.note
    assert h100.bandwidth_gbs == 3350                 # the original is unchanged


def test_trace_device_gpu_cpu_and_overrides(tmp_path):
    gpu = load(real_trace("kineto-h100-transformer-train-tiny.json.gz"))
    dev, reason = trace_device(gpu)
    assert dev.key == "h100-sxm" and reason is None
    cpu = load(real_trace("hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz"))
    dev, reason = trace_device(cpu, calibration=tmp_path / "none.json")
    assert dev is None and "profkit calibrate" in reason
    dev, reason = trace_device(cpu, calibration=tmp_path / "none.json", peak_bw=20)
    assert dev.bandwidth_gbs == 20 and dev.peak_tflops("float") is None
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"bandwidth_gbs": 25.0, "tflops": {"fp32": 0.3, "bf16": 2.0, "fp16": 2.1},
                               "date": "2026-01-01", "cpu": "test cpu"}))
    dev, reason = trace_device(cpu, calibration=cal)
    assert dev.name == CPU_NAME and dev.bandwidth_gbs == 25.0 and dev.peak_tflops("c10::BFloat16") == 2.0
    # kernels not recorded: CPU op times of a GPU run are launch costs, not efficiencies
    nokernels = load(real_trace("kineto-a100-edgecase-no-kernel-events.json.gz"))
    dev, reason = trace_device(nokernels, calibration=cal, peak_bw=100)
    assert dev is None and "no GPU activity" in reason
    cal.write_text("{broken")
    with pytest.raises(ProfkitError):
        load_calibration(cal)


def test_calibrate_tiny(tmp_path, capsys):
    from profkit.capture.calibrate import calibrate, matmul, triad

    gbs, secs = triad(1 << 16, reps=2)
    assert gbs > 0 and secs > 0
    tf, _ = matmul(64, __import__("torch").bfloat16, reps=1)
    assert tf > 0
    result = calibrate(triad_mb=2, matmul_n=64, reps=1)
    assert set(result["tflops"]) == {"fp32", "bf16", "fp16"}
    # the reported bandwidth is the bytes of one run over its best time
    assert result["bandwidth_gbs"] == pytest.approx(
        result["triad"]["bytes_per_run"] / result["triad"]["best_s"] / 1e9, rel=1e-3)
    out = tmp_path / "sub" / "cal.json"
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--out", str(out), "--triad-mb", "2", "--matmul-n", "64", "--reps", "1"])
    assert e.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    saved = load_calibration(out)
    assert isinstance(saved, Device) and saved.bandwidth_gbs == printed["bandwidth_gbs"]
    assert saved.peak_tflops("float") == printed["tflops"]["fp32"]
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--reps", "0"])
    assert e.value.code == 2
