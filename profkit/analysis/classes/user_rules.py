"""Users' own classification rules (`--rules FILE`) and the rule table `profkit rules` prints.

A rules file is TOML with an ordered array of tables; each rule is tried before
every built-in one, first match wins:

    [[rule]]
    pattern = "my_fused_expert_kernel"   # Python regex, searched case-insensitively
    class = "tensor_contraction"         # one of CLASSES, or "none": the name says nothing, ask the next layers
    why = "our MoE GEMM"                 # optional, shown by `profkit rules`
    target = "kernel"                    # "kernel" (GPU activity names, default) or "op" (CPU op names)

Kernel patterns see the name without its parameter list (classify.kernel_core);
op patterns see the normalised op name (classify.op_key: "aten::add_" -> "add").
"""

import re
import sys
from pathlib import Path

from profkit.analysis.classes.classify import UserRule
from profkit.analysis.classes.rules import CLASSES, KERNEL_RULES, OP_RULES, TOKEN_RULES
from profkit.errors import ProfkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_KEYS = {"pattern", "class", "why", "target"}
_TARGETS = ("kernel", "op")


def load_rules(path):
    """The rules of a TOML file as a tuple of UserRule, in file order; ProfkitError
    (one line) on an unreadable file, bad TOML, an unknown class or target, or a bad regex."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfkitError(f"{path}: no such rules file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProfkitError(f"cannot read rules file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfkitError(f"{path}: not valid TOML ({e})") from None
    unknown = set(doc) - {"rule"}
    if unknown:
        raise ProfkitError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; write [[rule]] tables")
    entries = doc.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProfkitError(f"{path}: 'rule' must be an array of tables ([[rule]])")
    return tuple(_rule(path, i + 1, e) for i, e in enumerate(entries))


def _rule(path, n, entry):
    where = f"{path}: rule {n}"
    extra = set(entry) - _KEYS
    if extra:
        raise ProfkitError(f"{where}: unknown key(s) {', '.join(sorted(extra))} (allowed: {', '.join(sorted(_KEYS))})")
    pattern, cls = entry.get("pattern"), entry.get("class")
    if not isinstance(pattern, str) or not pattern:
        raise ProfkitError(f"{where}: 'pattern' must be a non-empty string")
    try:
        re.compile(pattern)
    except re.error as e:
        raise ProfkitError(f"{where}: bad regex {pattern!r} ({e})") from None
    if cls != "none" and cls not in CLASSES:
        raise ProfkitError(f"{where}: class {cls!r} is not one of {', '.join(CLASSES)}, none")
    target = entry.get("target", "kernel")
    if target not in _TARGETS:
        raise ProfkitError(f"{where}: target {target!r} is not kernel or op")
    why = entry.get("why", "")
    if not isinstance(why, str):
        raise ProfkitError(f"{where}: 'why' must be a string")
    return UserRule(pattern, None if cls == "none" else cls, why or f"user rule from {path.name}", target)


def rule_table(user=()):
    """Every rule in the order it is tried: [{"layer", "target", "pattern", "class", "why"}].
    layer: "user", "rule" (built-in name rules), "token" (name words); op rules apply
    to the launching CPU op of a kernel no name rule or word decided."""
    rows = [{"layer": "user", "target": r.target, "pattern": r.pattern, "class": r.cls, "why": r.why} for r in user]
    rows += [{"layer": "rule", "target": "kernel", "pattern": p, "class": c, "why": w} for p, c, w in KERNEL_RULES]
    rows += [{"layer": "token", "target": "kernel", "pattern": p, "class": c, "why": w} for p, c, w in TOKEN_RULES]
    rows += [{"layer": "rule", "target": "op", "pattern": p, "class": c, "why": w} for p, c, w in OP_RULES]
    return rows
