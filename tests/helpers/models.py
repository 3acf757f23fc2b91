"""Tiny models for the tests: a GPT-2 config that builds in seconds, greedy tokens two ways, fake calibrations."""

import json
import os

FAKE_PEAKS = {"bandwidth_gbs": 20.0, "tflops": {"fp32": 0.5, "bf16": 2.0, "fp16": 2.0}}


def tiny_gpt2_config(**kw):
    """A GPT-2 config small enough to build, capture and compile in seconds.

    initializer_range 0.5: GPT-2's default 0.02 makes a random model repeat the
    prompt's last token forever, and then every decoder "agrees" trivially."""
    from transformers import GPT2Config

    args = dict(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64, bos_token_id=0, eos_token_id=0,
                initializer_range=0.5)
    args.update(kw)
    return GPT2Config(**args)


def generate_tokens(decoder, prompt, n):
    """The prompt's first token and `n` more from a profkit decoder (after a reset)."""
    import torch

    with torch.inference_mode():
        decoder.reset()
        first = decoder.prefill(prompt)
        return torch.cat([first, decoder.decode(first, n)], dim=1)


def recompute_tokens(model, prompt, n):
    """Greedy tokens without any KV cache: the whole sequence is re-run each step."""
    import torch

    seq = prompt
    with torch.inference_mode():
        for _ in range(n + 1):
            nxt = model(seq, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    return seq[:, prompt.shape[1]:]


def write_calibration(path):
    """A calibration of this machine with FAKE_PEAKS at `path` (what `profkit calibrate` writes)."""
    from profkit.common.hardware import CPU_NAME, cpu_model

    data = {"device": CPU_NAME, "cpu": cpu_model(), "cores": os.cpu_count(), "date": "2026-12-01T00:00:00+00:00",
            "load": {"load_avg": 0.1, "cpus": os.cpu_count(), "busy": False}, **FAKE_PEAKS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
