"""Atomic output: a reader (or a crash) never sees a half-written file."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from profkit.errors import ProfkitError

# Read once at import: os.umask can only be read by setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(dest):
    """Yield a temporary path beside `dest`; rename it onto `dest` on success.

    On any exception the temporary file is removed and `dest` keeps whatever it
    had before, so an interrupted run never destroys earlier output.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as e:
        raise ProfkitError(f"cannot write to {dest.parent}: {e.strerror or e}") from None
    os.close(fd)
    # mkstemp creates 0600; give the result the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        try:
            os.replace(tmp, dest)
        except OSError as e:
            raise ProfkitError(f"cannot write {dest}: {e.strerror or e}") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomic(dest, data: bytes):
    with atomic_path(dest) as tmp:
        Path(tmp).write_bytes(data)


def write_text_atomic(dest, text: str):
    write_bytes_atomic(dest, text.encode("utf-8"))
