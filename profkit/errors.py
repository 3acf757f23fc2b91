"""The one exception type that means "the user's input is wrong".

The CLI turns it into a single line on stderr and exit status 2, like git's
"fatal:" messages; any other exception is a bug in profkit.
"""


class ProfkitError(Exception):
    """Bad input or an unmet precondition, explained in one sentence."""


class OutOfMemory(ProfkitError):
    """The device (or host) ran out of memory; a sweep records the point as "oom"."""
