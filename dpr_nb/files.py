"""Writing files so that nothing a user made is ever half-written: a temporary file beside the target, then a rename.

A reader (or a resumed run) sees the old file or the new one, never part of one; a failure leaves no temporary file
behind. The file gets the permissions any new file would (0644 under the usual umask), not the 0600 that
`tempfile.mkstemp` gives, so a saved model can be shared, served or read by another user's notebook.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "note.txt"
    >>> write_text_atomic(path, "hello\\n")
    >>> path.read_text(), oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    ('hello\\n', True)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def current_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call write(temporary) with a path beside `path`, then rename it over `path`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


class SaveFailedError(OSError):
    """A save failed at the end of training; the message says where the trained model was kept instead."""


def ensure_writable(folder: str | Path, setting: str) -> None:
    """Check, before any training, that `folder` can be created and written: a ValueError naming the setting if not.

    A probe file is made (and removed) in the folder, or in the nearest of its parents that exists: the only test
    that holds for root, read-only mounts and network disks alike.
    """
    path = Path(folder)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = f"choose a {setting} in a folder you can write to (on Colab: under /content, or /content/drive/MyDrive)"
    if not existing.is_dir():
        raise ValueError(f"{setting}={str(folder)!r} cannot be made: {existing} is a file, not a folder; {fix}. "
                         "Nothing was trained.")
    probe = existing / f".dpr_nb-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"{setting}={str(folder)!r} cannot be written ({error.strerror} in {existing}); {fix}. "
                         "Nothing was trained.") from None
