"""Capture decoder inference (GPT-2, Llama, Qwen2, Mistral) under torch.profiler (the layer that imports torch).

Entry point: profkit.capture.run.capture_run. Offline mode is forced here, before
any submodule imports transformers: profkit never touches the network, and a
model that is not local must fail fast instead of downloading.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
