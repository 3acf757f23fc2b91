"""profkit capture: models, decoders, modes, argument checks, CLI refusals (tiny GPT-2, fast)."""

from dataclasses import replace

import pytest
import torch

from profkit.capture.config import CaptureConfig
from profkit.capture.generate import EagerDecoder, StaticDecoder, synthetic_prompt
from profkit.capture.models import BUILTIN, ModelSpec, build_model, describe, resolve_model, safe_name
from profkit.capture.modes import NO_CUDA, resolve_modes
from profkit.capture.run import capture_run, check_args, check_out_dir, output_stem
from profkit.errors import ProfkitError
from tests.helpers.cli import main_exit, profkit_cli
from tests.helpers.models import generate_tokens, recompute_tokens, tiny_gpt2_config

CPU = torch.device("cpu")


@pytest.fixture
def tiny_dir(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    tiny_gpt2_config().to_json_file(d / "config.json")
    return d


def tiny_model(seed=0):
    return build_model(ModelSpec("tiny", "test", tiny_gpt2_config(), None), "float32", CPU, seed)


def test_static_cache_decode_gives_eager_tokens():
    model = tiny_model()
    prompt = synthetic_prompt(2, 8, 97, seed=0, device=CPU)
    eager = generate_tokens(EagerDecoder(model), prompt, 12)
    static = StaticDecoder(model, batch=2, max_len=8 + 12)
    assert torch.equal(generate_tokens(static, prompt, 12), eager)
    # Reuse after reset() (what warm-up and timing repetitions do) changes nothing.
    assert torch.equal(generate_tokens(static, prompt, 12), eager)
    # Independent reference: no cache at all.
    assert torch.equal(eager, recompute_tokens(model, prompt, 12))
    assert eager.shape == (2, 13)
    assert len(set(eager.flatten().tolist())) > 4  # the comparison is not trivially satisfied


HOST_READS = {"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::nonzero"}


def host_reads(fn, *args):
    """ATen ops in fn(*args) that copy a tensor value to the host (a device sync on GPU)."""
    with torch.profiler.profile() as prof:
        fn(*args)
    return {e.name for e in prof.events()} & HOST_READS


def test_static_decode_step_has_no_host_sync():
    # The CUDA-graph precondition: the step never reads a tensor value on the host.
    model = tiny_model()
    prompt = synthetic_prompt(1, 6, 97, seed=1, device=CPU)
    static = StaticDecoder(model, batch=1, max_len=10)
    with torch.inference_mode():
        static.reset()
        token = static.prefill(prompt)
        assert host_reads(static.step, token) == set()
        assert host_reads(lambda t: t.sum().item(), token) == {"aten::item", "aten::_local_scalar_dense"}
        # fullgraph=True refuses graph breaks, e.g. Python control flow on a tensor value.
        step = torch.compile(static.step, backend="eager", fullgraph=True)
        static.reset()
        token = static.prefill(prompt)
        got = [step(token)]
        got.append(step(got[-1]))
    assert torch.equal(torch.cat([token, *got], dim=1), recompute_tokens(model, prompt, 2))


def test_synthetic_prompt_is_seeded():
    a = synthetic_prompt(2, 16, 50257, seed=3, device=CPU)
    assert torch.equal(a, synthetic_prompt(2, 16, 50257, seed=3, device=CPU))
    assert not torch.equal(a, synthetic_prompt(2, 16, 50257, seed=4, device=CPU))
    assert a.shape == (2, 16) and int(a.min()) >= 0 and int(a.max()) < 50257


@pytest.mark.parametrize("name,layers,heads,width", [
    ("gpt2", 12, 12, 768), ("gpt2-medium", 24, 16, 1024), ("gpt2-large", 36, 20, 1280), ("gpt2-xl", 48, 25, 1600),
])
def test_builtin_table(name, layers, heads, width):
    spec = resolve_model(name)
    c = spec.config
    assert (c.n_layer, c.n_head, c.n_embd, c.vocab_size, c.n_positions) == (layers, heads, width, 50257, 1024)
    assert spec.source == "builtin" and spec.weights is None


def test_param_count_matches_hand_formula():
    c = tiny_gpt2_config()
    d, v, p = c.n_embd, c.vocab_size, c.n_positions
    per_layer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    expected = v * d + p * d + c.n_layer * per_layer + 2 * d  # lm_head is tied to wte
    spec = ModelSpec("tiny", "test", c, None)
    assert describe(spec, build_model(spec, "float32", CPU, 0))["params"] == expected


def test_model_path_forms(tmp_path, tiny_dir):
    spec = resolve_model(str(tiny_dir))
    assert (spec.name, spec.source, spec.weights) == ("tiny", str(tiny_dir), None)
    assert spec.config.n_layer == 2
    # A bare config.json is named after its folder.
    assert resolve_model(str(tiny_dir / "config.json")).name == "tiny"
    other = tmp_path / "my small.json"
    other.write_text((tiny_dir / "config.json").read_text())
    assert resolve_model(str(other)).name == "my_small"


def test_checkpoint_dir_loads_its_weights(tmp_path):
    saved = tiny_model(seed=5)
    saved.save_pretrained(tmp_path / "ckpt")
    spec = resolve_model(str(tmp_path / "ckpt"))
    assert spec.weights is not None
    loaded = build_model(spec, "float32", CPU, seed=0)  # a different seed must not matter
    for (name, a), b in zip(saved.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("make,message", [
    (lambda p: "gpt3", "unknown model 'gpt3'; choose gpt2, gpt2-medium, gpt2-large, gpt2-xl"),
    (lambda p: str(p / "missing" / "config.json"), "no such file or directory"),
    (lambda p: str(p), "is not a checkpoint directory (it has no config.json)"),
    (lambda p: _write(p / "bad.json", "{not json"), "is not a readable config.json"),
    (lambda p: _write(p / "t5.json", '{"model_type": "t5"}'), "capture supports gpt2, llama, qwen2, mistral"),
    (lambda p: _write(p / "llama.json", '{"model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": 3}'),
     "3 K/V heads do not divide 8 attention heads"),
])
def test_bad_model_paths(tmp_path, make, message):
    with pytest.raises(ProfkitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_model(make(tmp_path))


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_modes():
    assert resolve_modes("all", CPU) == ["eager", "compiled"]
    assert resolve_modes("all", torch.device("cuda")) == ["eager", "compiled", "cudagraph"]
    assert resolve_modes("compiled, eager,compiled", CPU) == ["compiled", "eager"]
    with pytest.raises(ProfkitError, match="unknown mode 'fast'"):
        resolve_modes("eager,fast", CPU)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cudagraph_refused_without_cuda():
    with pytest.raises(ProfkitError) as e:
        resolve_modes("eager,cudagraph", CPU)
    assert str(e.value) == NO_CUDA
    assert "--mode eager,compiled" in NO_CUDA and "--mode all" in NO_CUDA


def test_check_args():
    spec = resolve_model("gpt2")
    cfg = CaptureConfig(prompt_len=1000, new_tokens=24, warmup=0, steps=1)
    check_args(spec, cfg)  # exactly 1024 positions is allowed
    with pytest.raises(ProfkitError, match="= 1025 exceeds the model's 1024 positions"):
        check_args(spec, replace(cfg, new_tokens=25))
    with pytest.raises(ProfkitError, match=r"--batch must be at least 1 \(got 0\)"):
        check_args(spec, CaptureConfig(batch=0))
    with pytest.raises(ProfkitError, match="unknown dtype 'fp8'"):
        check_args(spec, CaptureConfig(dtype="fp8"))


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ProfkitError, match="cannot write to"):
        check_out_dir(blocker / "traces")


def test_names():
    assert output_stem("gpt2", "eager", 4, 128) == "gpt2-eager-b4-s128"
    assert safe_name("runs/my model:v1") == "runs_my_model_v1"
    assert {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "llama-3.2-1b", "mistral-7b"} <= set(BUILTIN)


def test_timing_only_writes_nothing(tmp_path, tiny_dir):
    out = tmp_path / "never"
    phases = []
    cfg = CaptureConfig(str(tiny_dir), "eager", "cpu", batch=2, prompt_len=8, new_tokens=4, warmup=1, steps=2,
                        out_dir=out, profile=False)
    result = capture_run(cfg, progress=lambda p, d, t: phases.append(p))
    assert not out.exists()
    assert result["trace"] is None
    t = result["timing"]
    assert len(t["samples_ms"]) == 2 and t["ttft_ms"] > 0
    # tokens/s is batch x new tokens over the median decode time. Samples and results are rounded to the
    # microsecond, so the hand count can differ by half a microsecond in each (a tiny model decodes in < 1 ms).
    median_decode_s = _median([s[1] for s in t["samples_ms"]]) / 1e3
    assert t["tokens_per_s"] == pytest.approx(2 * 4 / median_decode_s, rel=2e-3)
    assert t["decode_ms_per_token"] == pytest.approx(median_decode_s * 1e3 / 4, abs=1e-3)
    assert result["peak_memory_kind"] == "rss_hwm" and result["peak_memory_bytes"] > 50 * 2**20
    assert {"load model", "warm-up", "timing"} <= set(phases) and "profile" not in phases
    # Noise of the timed runs, recomputed from the samples by hand.
    n = t["noise"]
    totals = [p + d for p, d in t["samples_ms"]]
    assert (n["samples"], n["min_ms"], n["max_ms"]) == (2, pytest.approx(min(totals), abs=2e-3),
                                                          pytest.approx(max(totals), abs=2e-3))
    m = sum(totals) / 2
    sd = (sum((x - m) ** 2 for x in totals) / 1) ** 0.5
    # The samples are stored rounded to 1 µs: on runs of a few ms that moves the CV by up to ~0.2 / min(totals).
    assert n["cv_pct"] == pytest.approx(100 * sd / m, abs=0.01 + 0.2 / min(totals))
    assert n["verdict"] in ("quiet", "noisy") and n["rule"] and n["cpus"] >= 1
    assert set(n["load_avg"]) == {"before", "after"}
    assert (n["verdict"] == "noisy") == bool(n["reasons"])


def test_decoder_uses_the_current_cache_keyword():
    # transformers deprecates forward(past_key_values=...) for cache=... (removed in 5.40):
    # the capture must not trigger the FutureWarning.
    model = tiny_model()
    prompt = synthetic_prompt(1, 4, 97, seed=0, device=CPU)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        generate_tokens(EagerDecoder(model), prompt, 2)
        generate_tokens(StaticDecoder(model, batch=1, max_len=6), prompt, 2)


def _median(xs):
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2


def test_oom_is_one_line_and_leaves_no_files(tmp_path, tiny_dir, monkeypatch):
    calls = {"n": 0}
    real = EagerDecoder.decode

    def decode_then_oom(self, token, n):
        calls["n"] += 1
        if calls["n"] > 3:  # warm-up and timing pass succeed; the profiled pass runs out
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")
        return real(self, token, n)

    monkeypatch.setattr(EagerDecoder, "decode", decode_then_oom)
    out = tmp_path / "out"
    with pytest.raises(ProfkitError, match="^out of memory running tiny eager with batch 1"):
        capture_run(CaptureConfig(str(tiny_dir), "eager", "cpu", 1, 8, 4, warmup=1, steps=2, out_dir=out))
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["--model", "gpt3"], "unknown model 'gpt3'; choose gpt2, gpt2-medium"),
    (["--batch", "0"], "--batch must be at least 1 (got 0)"),
    (["--prompt-len", "1000", "--new-tokens", "100"], "exceeds the model's 1024 positions"),
    (["--dtype", "int8"], "unknown dtype 'int8'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--mode", "eager,cudagraph", "--device", "cpu"], "CUDA graphs need a CUDA device"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main_exit("capture", *args, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("profkit: error: ") and message in err
    assert not out.exists()


def test_cli_unwritable_out(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main_exit("capture", "--model", "gpt2", "--out", str(tmp_path / "file" / "sub")) == 2
    assert capsys.readouterr().err.startswith("profkit: error: cannot write to")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_cudagraph_refusal_end_to_end(tmp_path):
    r = profkit_cli("capture", "--model", "gpt2", "--mode", "cudagraph", "--out", tmp_path / "out")
    assert r.returncode == 2
    assert r.stderr == f"profkit: error: {NO_CUDA}\n"
    assert r.stdout == "" and not (tmp_path / "out").exists()


def test_capture_help_promises_no_network():
    r = profkit_cli("capture", "--help")
    assert r.returncode == 0
    assert "Never uses the network" in r.stdout and "--new-tokens" in r.stdout


def test_timing_table_marks_a_noisy_run_and_suggests_more_steps(capsys):
    from profkit.common.noise import noise
    from profkit.capture.console import print_timings

    def side(mode, samples, load):
        return {"model": {"name": "tiny"}, "mode": mode, "steps": 3, "device": {"type": "cpu", "name": "x"},
                "dtype": "float32", "batch": 1, "prompt_len": 8, "new_tokens": 4, "peak_memory_bytes": 2**20,
                "trace": f"tiny-{mode}.json.gz",
                "timing": {"ttft_ms": 1.0, "decode_ms_per_token": 1.0, "tokens_per_s": 1.0, "total_ms": 10.0,
                           "noise": noise(samples, load, load, 8, None)}}

    print_timings([side("eager", [10.0, 10.1, 10.05], 0.5), side("compiled", [10.0, 14.0, 10.0], 9.0)], "out")
    out = capsys.readouterr().out
    assert "* noisy compiled" in out and "load average 9.00 > 8 CPUs" in out and "more --steps (now 3)" in out
    assert "noisy eager" not in out
    assert "10–14" in out  # the min–max of the compiled runs
