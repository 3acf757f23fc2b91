"""Malformed text inside a real trace: raw control characters and invalid UTF-8 are repaired with a
warning that says how many and where; text no repair can save is an error naming the byte, never a
silent cut."""

import gzip
import re

import pytest

import profkit
from profkit.errors import ProfkitError
from profkit.trace.reader import repair
from tests.helpers.cli import profkit_cli
from tests.helpers.traces import real_trace

SOURCE = "kineto-rtx5080-mlp-train-eager.json.gz"


def _text():
    return gzip.decompress(real_trace(SOURCE).read_bytes())


def _inject(tmp_path, name, where, what, gz=False):
    """The trace with `what` inserted inside the first kernel name past `where` (a share of the text)."""
    text = _text()
    at = text.index(b'"', text.index(b'"name":', int(len(text) * where)) + 7) + 1
    data = text[:at] + what + text[at:]
    path = tmp_path / (name + (".json.gz" if gz else ".json"))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path, at


def _counts(trace):
    return len(trace.gpu), len(trace.cpu_ops), len(trace.runtime)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("where", [0.1, 0.9])
def test_a_control_character_is_repaired_not_a_cut(tmp_path, gz, where):
    clean = profkit.load(real_trace(SOURCE))
    path, at = _inject(tmp_path, "ctrl", where, b"\x01", gz)
    t = profkit.load(path)
    assert _counts(t) == _counts(clean)  # every event read, none dropped after the bad byte
    (w,) = t.warnings
    assert f"1 raw control character inside the events (the first at byte {at} of the JSON text)" in w


def test_invalid_utf8_is_repaired_with_its_real_cause(tmp_path):
    clean = profkit.load(real_trace(SOURCE))
    path, at = _inject(tmp_path, "utf8", 0.5, b"\xff\xfe")
    t = profkit.load(path)
    assert _counts(t) == _counts(clean)
    (w,) = t.warnings
    assert f"2 bytes of invalid UTF-8 inside the events (the first at byte {at} of the JSON text)" in w
    assert "digits" not in w


def test_text_no_repair_saves_is_an_error_naming_the_byte(tmp_path):
    text = _text()
    cuts = [m.start() for m in re.finditer(rb"\},\s*\{", text)]
    at = cuts[len(cuts) // 2] + 1
    path = tmp_path / "garbage.json"
    path.write_bytes(text[:at] + b", 12 oops" + text[at:])
    with pytest.raises(ProfkitError, match=r"not valid JSON at byte \d+ of its JSON text"):
        profkit.load(path)
    r = profkit_cli("analyze", path, "--no-cache")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_repair_keeps_the_length_and_valid_text():
    text = '{"name": "a\x01b\x1fc", "x": "é"}'.encode() + b"\xc3"  # a cut-short é at the end counts as bad
    fixed, notes = repair(text)
    assert len(fixed) == len(text) and fixed.startswith(b'{"name": "a b c", "x": "\xc3\xa9"}')
    assert [n[0] for n in notes] == ["2 raw control characters", "1 byte of invalid UTF-8"]
    assert repair(b'{"a": "\\u0001 ok"}') == (b'{"a": "\\u0001 ok"}', [])  # escaped: valid, untouched
