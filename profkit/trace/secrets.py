"""Credential-like values in a trace's metadata: found, and masked in the copies profkit writes.

Public traces carry environment dumps and launcher settings in their top-level keys (Hugging
Face traces: `metadata.system.env`), and with them access tokens (`HF_TOKEN`), cloud keys
(`AWS_SECRET_ACCESS_KEY`) and passwords. profkit reads the metadata of every trace; the copies
it writes (`profkit annotate`, the report's `_traces/` folder, `profkit open`) mask these
values unless told to keep them, and `analyze` warns that the input holds them.

A value is credential-like when its key names a credential, as a whole word of the key
(`HF_TOKEN`, `github-token`, `db_password`, `AWS_SECRET_ACCESS_KEY`, `openai_api_key`; not
`TOKENIZERS_PARALLELISM` or `max_tokens`), or when the value itself has the shape of a
published token format (Hugging Face `hf_…`, GitHub `ghp_…`/`github_pat_…`, OpenAI-style
`sk-…`, AWS access key ids `AKIA…`, Slack `xox?-…`, PEM private keys). Only the metadata is
searched: event args hold shapes and names, not the process environment.
"""

import re

MASK = "REDACTED by profkit"
# Words of a key (split at _ - . and case changes are not split: env names are upper case).
_WORDS = re.compile(r"[A-Za-z0-9]+")
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "credential", "credentials",
                           "cookie", "apikey", "passphrase"})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                           ("auth", "key"), ("client", "secret"), ("session", "key")})
_TOKEN_VALUE = re.compile(r"\b(?:hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
                          r"|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})\b"
                          r"|-----BEGIN [A-Z ]*PRIVATE KEY-----")
_ALREADY = ("REDACTED", "", MASK)


def _secret_key(key):
    words = [w.lower() for w in _WORDS.findall(key)]
    return any(w in _SECRET_WORDS for w in words) or any(p in _SECRET_PAIRS for p in zip(words, words[1:]))


def _holds_value(v):
    """A value a credential key could leak: text, a number or a nested block (not a flag, not empty)."""
    if isinstance(v, bool) or v is None or isinstance(v, float):
        return False
    return bool(v) and not (isinstance(v, str) and v in _ALREADY)


def _walk(value, path, found, mask):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            if _secret_key(str(k)) and _holds_value(v):
                found.append(where)
                out[k] = MASK if mask else v
            else:
                out[k] = _walk(v, where, found, mask)
        return out
    if isinstance(value, list):
        return [_walk(v, f"{path}[{i}]", found, mask) for i, v in enumerate(value)]
    if isinstance(value, str) and _TOKEN_VALUE.search(value):
        found.append(path)
        return _TOKEN_VALUE.sub(MASK, value) if mask else value
    return value


def find(meta):
    """Paths (`metadata.system.env.HF_TOKEN`) of the credential-like values in a trace's metadata."""
    found = []
    _walk({k: v for k, v in meta.items() if k != "traceEvents"}, "", found, mask=False)
    return found


def masked(meta):
    """(the metadata with every credential-like value replaced by MASK, the paths masked)."""
    found = []
    return _walk({k: v for k, v in meta.items() if k != "traceEvents"}, "", found, mask=True), found


def warning(meta):
    """The analysis warning for a trace whose metadata holds credentials, else None."""
    found = find(meta)
    if not found:
        return None
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    it = "them" if len(found) != 1 else "it"
    return (f"the trace's metadata holds {len(found)} credential-like value{'s' if len(found) != 1 else ''} "
            f"({shown}): profkit's copies of the trace mask {it} (unless --keep-secrets); mask {it} in the "
            "original before you share it")
