"""The bases of every block of the analysis result (profkit.analysis.result)."""

import msgspec


class Block(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A typed block of the result: attribute access, JSON and JSON Schema via msgspec.

    Fields with a default are left out of the JSON while they hold it (optional
    extras such as `gaps.all`); all other fields are always written."""


class Record(msgspec.Struct):
    """A block every field of which is always written, defaults included (launch kinds, steps,
    what-if predictions); built by position or keyword like a dataclass."""
