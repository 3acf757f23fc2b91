"""profkit: profile LLM inference and explain where the time goes."""

__version__ = "0.1.0"
