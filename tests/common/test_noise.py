"""Noise of repeated timings: spread, verdict and its rule, machine load (hand-computed)."""

import re

import pytest

from profkit.common.noise import NOISY_CV_PCT, exceeds_noise, is_noisy, noise, spread
from profkit.capture.machine import LoadProbe, _steal_pct


def test_spread_by_hand():
    # The prefill samples on a busy machine: 3262, 4897 and 4150 ms.
    s = spread([3262, 4897, 4150])
    m = (3262 + 4897 + 4150) / 3
    sd = (((3262 - m) ** 2 + (4897 - m) ** 2 + (4150 - m) ** 2) / 2) ** 0.5
    assert (s.samples, s.median_ms, s.min_ms, s.max_ms) == (3, 4150, 3262, 4897)
    assert s.cv_pct == pytest.approx(100 * sd / m, abs=0.01)
    assert s.cv_pct > 19
    assert spread([5.0]).cv_pct is None


def test_verdict_and_reasons():
    quiet = noise([100, 101, 100.5], load_before=0.3, load_after=0.4, cpus=8, steal_pct=0.0)
    assert quiet["verdict"] == "quiet" and quiet["reasons"] == [] and not is_noisy(quiet)
    spread_noisy = noise([100, 130, 100], cpus=8)
    assert spread_noisy["verdict"] == "noisy" and f"CV > {NOISY_CV_PCT:g}%" in spread_noisy["reasons"][0]
    loaded = noise([100, 101], load_before=1.0, load_after=9.5, cpus=8)
    assert loaded["reasons"] == ["load average 9.50 > 8 CPUs"]
    stolen = noise([100, 101], cpus=8, steal_pct=12.5)
    assert stolen["reasons"] == ["CPU steal 12.5% > 5%"]
    single = noise([100], cpus=8)
    assert single["verdict"] == "noisy" and "spread unknown" in single["reasons"][0]
    assert not is_noisy(None)


def test_difference_exceeds_noise_only_when_ranges_do_not_overlap():
    a, b = spread([10, 11, 12]), spread([12.5, 13, 14])
    assert exceeds_noise(a.__dict__, b.__dict__) is True
    c = spread([11.5, 13, 14])
    assert exceeds_noise(a.__dict__, c.__dict__) is False
    assert exceeds_noise(None, a.__dict__) is None


def test_steal_from_proc_stat_counters():
    # user nice system idle iowait irq softirq steal guest guest_nice
    before = [100, 0, 50, 800, 10, 0, 5, 35, 7, 0]
    after = [200, 0, 100, 1600, 20, 0, 10, 70, 9, 0]
    # delta total over the first 8 counters = 1000 - 35 + ... computed by hand: 100+50+800+10+5+35 = 1000
    assert _steal_pct(before, after) == pytest.approx(3.5)
    assert _steal_pct(None, after) is None
    assert _steal_pct(before[:7], after[:7]) is None


def test_load_probe_reads_this_machine():
    probe = LoadProbe().start().stop()
    assert probe.load_before is None or probe.load_before >= 0
    assert LoadProbe.cpus() >= 1
    assert probe.steal_pct is None or 0 <= probe.steal_pct <= 100


def test_sidecar_timing_is_read_typed_and_checked_once():
    """What capture writes reads back as a typed Capture (Timing, Noise); a block of the wrong type is
    one clear error naming it, never a crash in a view."""
    from profkit.errors import ProfkitError
    from profkit.runfiles.sidecar import capture_of

    block = {"ttft_ms": 12.5, "decode_ms_per_token": 3.25, "tokens_per_s": 307.7, "total_ms": 25.5,
             "samples_ms": [[12.0, 13.0], [13.0, 14.0]], "noise": noise([25.0, 27.0], 0.5, 0.7, 2, 0.0)}
    t = capture_of({"timing": block}).timing
    assert (t.ttft_ms, t.samples_ms, t.noise.verdict, t.noise.min_ms) == (12.5, [(12.0, 13.0), (13.0, 14.0)],
                                                                          "noisy", 25.0)
    assert capture_of(None) is None and capture_of({}).timing is None
    for bad, where in (({"timing": "fast"}, "$.timing"), ({"timing": {"ttft_ms": "fast"}}, "$.timing.ttft_ms"),
                       ({"timing": {"samples_ms": [[1.0]]}}, "$.timing.samples_ms"),
                       ({"timing": {"noise": {"cv_pct": "x"}}}, "$.timing.noise.cv_pct")):
        with pytest.raises(ProfkitError, match=re.escape(where)):
            capture_of(bad, "t.meta.json")
    assert capture_of({"timing": {"noise": {"cv_pct": 3.0}}}).timing.noise.verdict is None  # not judged


def test_a_verdict_between_runs_needs_comparable_conditions():
    from profkit.common.noise import unfit_for_comparison
    from profkit.runfiles.sidecar import Noise

    quiet = Noise(verdict="quiet", reasons=[])
    loaded = Noise(verdict="noisy", reasons=["load average 6.60 > 2 CPUs"])
    assert unfit_for_comparison([("eager", quiet, 2), ("compiled", quiet, 2)]) == []
    assert unfit_for_comparison([("eager", None, None), ("other", None, None)]) == []  # foreign traces
    assert unfit_for_comparison([("eager", quiet, 2), ("compiled", loaded, 2)]) == [
        "compiled was timed on a noisy machine (load average 6.60 > 2 CPUs)"]
    assert unfit_for_comparison([("eager", quiet, 2), ("compiled", quiet, 8)]) == [
        "the runs used different thread counts (eager: 2, compiled: 8)"]


def test_competition_is_busy_time_less_this_process_and_its_children(monkeypatch):
    """/proc/stat jiffies over the probe, less os.times of this process and its waited-for children."""
    import os

    from profkit.capture import machine

    tick = os.sysconf("SC_CLK_TCK")
    stats = iter([[0] * 8, [300, 0, 100, 500, 100, 0, 0, 0]])  # 1000 jiffies: 400 busy, 500 idle, 100 iowait
    own = iter([10.0, 10.0 + 100 / tick])  # this process (and children) took 100 of the 400 busy jiffies
    monkeypatch.setattr(machine, "_cpu_stat", lambda: next(stats))
    monkeypatch.setattr(machine, "_own_seconds", lambda: next(own))
    assert machine.Competition().start().others_pct() == 30.0
