"""Result blocks of advice: findings with their evidence."""

from profkit.analysis.result.block import Block


# -- findings ---------------------------------------------------------------------------------


class Item(Block):
    """One thing of the trace a finding rests on: an op, a gap, a kernel or a class.
    start_us: trace time (find it in Perfetto); detail: e.g. the kernels around a gap."""

    kind: str
    name: str
    time_us: float
    count: int | None = None
    start_us: float | None = None
    detail: str = ""


class Evidence(Block):
    """The numbers a rule compared (units in the names) and the items they rest on."""

    numbers: dict[str, float | int | str | None]
    items: list[Item] = []


class Finding(Block):
    """What to try next, from one rule of profkit.analysis.advice.findings.RULES (docs/findings.md).

    rule: the rule's stable id; severity: warn / info / good; text: what the trace
    shows; action: what to try; evidence: numbers and the ops/gaps/kernels behind
    them; applies_when: the preconditions, noise check and thresholds checked."""

    rule: str
    severity: str
    text: str
    action: str
    evidence: Evidence
    applies_when: list[str]
