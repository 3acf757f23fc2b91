"""Crafted names cost linear time: every regex that reads trace text, and the name shortener, on
adversarial strings (long repetitions of each rule's own literals, long template nests), and whole
commands on real traces whose kernels carry 1 MB names."""

import gzip
import re
import time

import orjson
import pytest

from profkit.analysis.classes import classify, rules
from profkit.analysis.time import launches, temporal
from profkit.report.names import _hints, short_name
from profkit.trace import model
from tests.helpers.bounded import bounded
from tests.helpers.traces import real_trace

PER_CALL_S = 0.1  # linear patterns take well under a millisecond on 4 KB; a quadratic one ~0.3 s
SIZE = classify.MATCH_CHARS


def _patterns():
    """(label, compiled regex) of every rule table and of the module patterns that see names."""
    out = []
    for table in ("KERNEL_RULES", "OP_RULES", "TOKEN_RULES"):
        for i, (pattern, _, _) in enumerate(getattr(rules, table)):
            out.append((f"{table}[{i}]", re.compile(pattern, 0 if table == "TOKEN_RULES" else re.IGNORECASE)))
    for mod in (launches, temporal, model, classify):
        for name, value in vars(mod).items():
            if isinstance(value, re.Pattern):
                out.append((f"{mod.__name__}.{name}", value))
    for kind, regex in launches._RULES:
        out.append((f"launches kind {kind}", regex))
    return out


def _adversarial(pattern):
    """Strings of SIZE characters made of the pattern's own literals: each repeated bare, joined by
    "_", by "::" and after a matching prefix, every one ending in a character that fails."""
    words = sorted(set(re.findall(r"[A-Za-z][A-Za-z0-9_]{1,}", pattern)), key=len, reverse=True)[:12]
    for w in words:
        for sep in ("", "_", "::", "<"):
            unit = w + sep
            yield (unit * (SIZE // len(unit) + 1))[:SIZE - 1] + "!"
        yield (words[0] + "_" + w + "_" * 40) * (SIZE // (len(words[0]) + len(w) + 41) + 1)
    yield ("_".join(words) + "_") * (SIZE // (sum(map(len, words)) + len(words) + 1) + 1)


def test_every_name_pattern_is_linear_on_its_own_literals():
    slow = []
    for label, regex in _patterns():
        for text in _adversarial(regex.pattern):
            t = time.perf_counter()
            regex.search(text)
            took = time.perf_counter() - t
            if took > PER_CALL_S:
                slow.append((label, took, text[:40]))
    assert not slow, slow


@pytest.mark.parametrize("name", [
    "cpp_fused" + "_a" * 3000,  # the cubic shape the fuzz pass found
    "cpp_fused" + "_index_select" * 400 + "_x",  # exponential before the atomic groups
    "triton_poi_fused" + "_index_select" * 400 + "_x",
    "k<" + "a" * 30000 + ">",
    "void " + "f<" * 5000 + "int" + ">" * 5000 + "(int)",
    "x" * (1 << 20),
])
def test_classify_and_shorten_crafted_names_quickly(name):
    for fn in (classify.kernel_layer, classify.op_layer_class, classify.token_class, short_name):
        fn.cache_clear() if hasattr(fn, "cache_clear") else None
        t = time.perf_counter()
        fn(name)
        assert time.perf_counter() - t < 1.0, fn.__name__


def test_the_word_scan_finds_the_hints_the_regex_found_on_real_names(shared_dir):
    # The regex the scan replaced (fine on real names, quadratic on a long word), as the reference.
    hint = re.compile(r"(\w+(?:Functor|_kernel_cuda|_kernel_impl|Op)\w*|\w+_kernel(?=\())")
    names = set()
    for path in sorted(shared_dir.glob("*.json.gz"))[:30]:
        names |= {e["name"] for e in orjson.loads(gzip.decompress(path.read_bytes()))["traceEvents"]
                  if isinstance(e, dict) and e.get("cat") == "kernel"}
    assert len(names) > 150
    for n in names:
        assert _hints(n) == hint.findall(n), n


def _with_long_names(tmp_path, n=60, size=1 << 20):
    """The RTX 5080 eager trace with its first `n` kernels renamed to crafted `size`-character names."""
    doc = orjson.loads(gzip.decompress(real_trace("kineto-rtx5080-mlp-train-eager.json.gz").read_bytes()))
    done = 0
    for e in doc["traceEvents"]:
        if e.get("cat") == "kernel" and done < n:
            e["name"] = ("cpp_fused" + "_index_select" * (size // 13) + f"_x{done}")[:size]
            done += 1
    path = tmp_path / "long-names.json"
    path.write_bytes(orjson.dumps(doc))
    return path


def test_commands_on_a_trace_of_1_mb_kernel_names_end_in_bounded_time(tmp_path):
    path = _with_long_names(tmp_path)
    for args in (["analyze", "--no-cache", path], ["analyze", "--json", "--no-cache", path],
                 ["annotate", path, "-o", tmp_path / "out.json.gz"]):
        r = bounded(*args, seconds=60, mb=1024)
        assert r.returncode == 0, r.stderr[-2000:]
