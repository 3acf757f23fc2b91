"""CPU peaks for the main job: measured once, cached per machine, recorded in each capture's sidecar."""

import json
import os

import pytest

from profkit.common.hardware import CPU_NAME, cpu_model, default_calibration, recorded_device, trace_device
from profkit.capture.calibrate import cpu_peaks, machine_load
from profkit.cli import main
from profkit.trace import load
from profkit.runfiles.manifest import read_manifest
from tests.helpers.models import FAKE_PEAKS
from tests.helpers.traces import real_trace, summary_json


def fake_measure(load_avg=0.0):
    calls = []

    def measure():
        calls.append(1)
        return {"device": CPU_NAME, "cpu": cpu_model(), "cores": os.cpu_count(), "date": "2026-12-02T00:00:00+00:00",
                "load": {"load_avg": load_avg, "cpus": 2, "busy": load_avg >= 1.0}, **FAKE_PEAKS}

    return measure, calls


def test_cache_dir_follows_xdg(user_cache, tmp_path, monkeypatch):
    assert default_calibration() == user_cache / "calibration.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_calibration() == tmp_path / ".cache" / "profkit" / "calibration.json"


def test_measured_once_then_reused(user_cache):
    measure, calls = fake_measure()
    heard = []
    first = cpu_peaks(heard.append, measure=measure)
    assert calls == [1] and "measuring this CPU's peaks once" in heard[0]
    assert first["origin"].startswith("measured by this capture, cached in ")
    saved = json.loads(default_calibration().read_text())
    assert saved["cpu"] == cpu_model() and saved["cores"] == os.cpu_count() and saved["date"]
    second = cpu_peaks(heard.append, measure=measure)
    assert calls == [1] and len(heard) == 1  # reused silently
    assert second["origin"] == f"cached in {default_calibration()}"
    assert {k: second[k] for k in FAKE_PEAKS} == FAKE_PEAKS
    # Another machine's calibration (CPU model or core count) is measured again.
    default_calibration().write_text(json.dumps({**saved, "cores": saved["cores"] + 1}))
    cpu_peaks(heard.append, measure=measure)
    assert calls == [1, 1]


def test_peaks_measured_under_load_are_flagged(user_cache):
    measure, _ = fake_measure(load_avg=1.9)
    heard = []
    peaks = cpu_peaks(heard.append, measure=measure)
    assert "measured under load (load average 1.90 on 2 CPUs)" in heard[-1]
    assert "the next CPU capture that finds the machine quiet measures them again" in heard[-1]
    dev = recorded_device(peaks)
    assert "measured under load" in dev.note
    load_now = machine_load()
    assert load_now["cpus"] == os.cpu_count() and isinstance(load_now["busy"], bool)
    assert machine_load(others_pct=47.7)["busy"] and not machine_load(others_pct=3.0)["busy"]


def test_peaks_measured_under_load_heal_on_a_quiet_machine(user_cache):
    """The issue's first capture: peaks measured right after `pip install` on a busy machine.
    The next capture that finds the machine quiet measures again and keeps the quiet result."""
    loaded, _ = fake_measure(load_avg=3.5)
    cpu_peaks(measure=loaded)
    quiet_peaks = {"bandwidth_gbs": 29.5, "tflops": {"fp32": 0.142, "bf16": 0.7, "fp16": 0.002}}

    def quiet():
        return {**loaded(), **quiet_peaks, "load": {"load_avg": 0.2, "cpus": 2, "others_pct": 1.0, "busy": False}}

    heard = []
    kept = cpu_peaks(heard.append, measure=quiet, others_now=lambda: 45.0)  # still busy: kept, flagged
    assert kept["origin"].startswith("cached in ") and "measured under load" in heard[-1]
    heard.clear()
    healed = cpu_peaks(heard.append, measure=quiet, others_now=lambda: 2.0)
    assert "the machine is quiet now: measuring them again" in heard[0] and len(heard) == 1
    assert healed["origin"].startswith("re-measured by this capture on a quiet machine")
    assert healed["bandwidth_gbs"] == 29.5 and not healed["load"]["busy"]
    assert json.loads(default_calibration().read_text())["bandwidth_gbs"] == 29.5
    assert recorded_device(healed).note == ""
    calls = []
    cpu_peaks(measure=lambda: calls.append(1), others_now=lambda: 0.0)  # quiet peaks are not re-measured
    assert calls == []


def test_a_second_loaded_measurement_keeps_each_higher_peak(user_cache):
    loaded, _ = fake_measure(load_avg=3.5)
    first = cpu_peaks(measure=loaded)

    def slower():
        data = loaded()
        return {**data, "bandwidth_gbs": first["bandwidth_gbs"] * 2, "tflops": {k: v / 2 for k, v in data["tflops"].items()}}

    # A quiet second before, a loaded measurement after: still provisional, the best of both.
    again = cpu_peaks(measure=slower, others_now=lambda: 0.0)
    assert again["bandwidth_gbs"] == first["bandwidth_gbs"] * 2 and again["tflops"] == first["tflops"]
    assert again["load"]["busy"]


def test_sidecar_peaks_come_before_the_cache(tmp_path, calibrated):
    cpu = load(real_trace("hta/cpu_only/rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz"))
    dev, _ = trace_device(cpu)
    assert dev.bandwidth_gbs == 20.0  # the cache
    side = {"device": CPU_NAME, "bandwidth_gbs": 7.0, "tflops": {"fp32": 0.1}, "origin": "x"}
    dev, _ = trace_device(cpu, recorded=side)
    assert dev.bandwidth_gbs == 7.0 and "recorded by the capture" in dev.source
    other = tmp_path / "cal.json"
    other.write_text(json.dumps({"bandwidth_gbs": 3.0, "tflops": {"fp32": 0.2}}))
    dev, _ = trace_device(cpu, calibration=other, recorded=side)
    assert dev.bandwidth_gbs == 3.0  # a file named on the command line wins


def test_main_job_sidecar_gives_roofline_and_mue(tmp_path, calibrated, monkeypatch):
    from transformers import GPT2Config

    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "tiny"
    ckpt.mkdir()
    GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64).to_json_file(ckpt / "config.json")
    with pytest.raises(SystemExit) as e:
        main(["capture", "--model", str(ckpt), "--mode", "eager", "--device", "cpu", "--prompt-len", "8",
              "--new-tokens", "4", "--warmup", "0", "--steps", "1"])
    assert e.value.code == 0
    side = json.loads((tmp_path / "traces" / "tiny-eager-b1-s8.meta.json").read_text())
    assert side["peaks"]["origin"] == f"cached in {calibrated}"
    assert side["peaks"]["bandwidth_gbs"] == 20.0 and side["peaks"]["tflops"]["fp32"] == 0.5
    assert read_manifest(tmp_path / "traces" / "run.json").peaks == side["peaks"]
    # Moving the cache away changes nothing: the sidecar carries the peaks.
    calibrated.unlink()
    s = summary_json(load(tmp_path / "traces" / "tiny-eager-b1-s8.json.gz"), sidecar=side)
    roof = s["roofline"]
    assert roof["unavailable"] is None and roof["device"]["bandwidth_gbs"] == 20.0
    # The limit is recomputed by hand from the roofline's own FLOPs and bytes.
    for phase in ("prefill", "decode_step"):
        p = roof[phase]
        assert p["limit_ms"] == pytest.approx(max(p["flops"] / 0.5e12, p["bytes"] / 20e9) * 1e3)
    assert any(c.get("mue_pct") is not None for c in s["efficiency"]["classes"].values())
