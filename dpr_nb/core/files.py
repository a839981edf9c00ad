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
import re
import shlex
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import DPRNBError, SettingsError


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


class SaveFailedError(DPRNBError, OSError):
    """A save failed at the end of training; the message says where the trained model was kept instead."""


def ensure_writable(
    path: str | Path, setting: str, is_file: bool = False, consequence: str = "Nothing was trained."
) -> None:
    """Check, before any work, that the folder `path` (or with `is_file`, the file) can be created and written: a
    ValueError naming the setting if not.

    A probe file is made (and removed) in the folder, or in the nearest of its parents that exists: the only test
    that holds for root, read-only mounts and network disks alike.
    """
    path = Path(path)
    fix = f"choose a {setting} in a folder you can write to (on Colab: under /content, or /content/drive/MyDrive)"
    if is_file and path.is_dir():
        raise SettingsError(f"{setting}={str(path)!r} is a folder; name a file to write. {consequence}")
    existing = path.parent if is_file else path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SettingsError(
            f"{setting}={str(path)!r} cannot be made: {existing} is a file, not a folder; {fix}. {consequence}"
        )
    probe = existing / f".dpr_nb-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise SettingsError(
            f"{setting}={str(path)!r} cannot be written ({error.strerror} in {existing}); {fix}. {consequence}"
        ) from None


def folder_labels(folders: Sequence[Path | None], names: Sequence[str]) -> list[str]:
    """Each folder relative to the folder that holds them all: distinct for distinct folders, short for folders side
    by side. Where any folder is unknown (None), `names` instead.

    >>> folder_labels([Path("runs/caching/batch=32"), Path("runs/batch_size/batch=32")], ["batch=32", "batch=32"])
    ['caching/batch=32', 'batch_size/batch=32']
    >>> folder_labels([Path("runs/caching/batch=32")], ["batch=32"])
    ['batch=32']
    """
    if not folders or any(folder is None for folder in folders):
        return list(names)
    resolved = [Path(folder).resolve() for folder in folders]
    root = Path(os.path.commonpath([folder.parent for folder in resolved]))
    return [folder.relative_to(root).as_posix() for folder in resolved]


# ---------------------------------------------------------------------------------------------------------------
# Folders: written whole beside the target as .NAME.tmp-PID, then swapped in; the old one waits as .NAME.old-PID


def temporary_folder(folder: Path) -> Path:
    """Where this process writes a new `folder` before swapping it in (cleared first)."""
    temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    return temporary


def replace_folder(temporary: Path, folder: Path) -> None:
    """Swap a completely written folder into place; the old one (if any) stays whole until the new one is there.

    A kill between the two renames leaves no `folder`, only the old and the new copies beside it: `recover_folder`
    (which `DensePassageRetriever.load` and the next save call) puts the new one in place. Every file gets ordinary
    permissions first: some writers (safetensors' weights, tempfile) make theirs readable by their owner only.
    """
    mask = current_umask()
    for path in temporary.rglob("*"):
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
    previous = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, previous)
    os.replace(temporary, folder)
    shutil.rmtree(previous, ignore_errors=True)


def _owner(path: Path, folder: Path) -> tuple[str, int] | None:
    """("tmp" or "old", pid) for a temporary copy of `folder`, else None."""
    prefix = f".{folder.name}."
    if not path.name.startswith(prefix):
        return None
    kind, _, pid = path.name[len(prefix) :].partition("-")
    return (kind, int(pid)) if kind in ("tmp", "old") and pid.isdigit() else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def recover_folder(folder: str | Path) -> None:
    """Finish a swap a kill interrupted, then delete the temporary copies that dead processes left beside `folder`.

    With no `folder` but both an `.old-PID` and a `.tmp-PID` copy of the same process, that process was between
    the two renames: its new copy was complete (the swap starts only then), so it goes into place. Any other copy
    of a process that no longer runs is an unfinished write, and is deleted (each can be gigabytes).
    """
    folder = Path(folder)
    if not folder.parent.is_dir():
        return
    copies = {}
    for path in folder.parent.iterdir():
        owner = _owner(path, folder)
        if owner and path.is_dir():
            copies[owner] = path
    if not folder.exists():
        for (kind, pid), path in copies.items():
            if kind == "tmp" and ("old", pid) in copies:
                os.replace(path, folder)
                del copies[(kind, pid)]
                break
    for (_, pid), path in copies.items():
        if not process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


class FolderInUseError(DPRNBError, OSError):
    """Another running process is writing the same folder."""


def _create_lock(lock: Path, owner: str) -> bool:
    """Create `lock` holding `owner`, atomically: True, or False if it exists. A reader never sees it empty."""
    pending = lock.with_name(f"{lock.name}.{_file_safe(owner)}")
    pending.write_text(owner, encoding="utf-8")
    try:
        os.link(pending, lock)  # fails if the lock exists, on local and network disks alike
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links (FAT, some FUSE mounts)
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            f.write(owner)
        return True
    finally:
        pending.unlink(missing_ok=True)


def _file_safe(owner: str) -> str:
    # The owner names this process's own side files: a host name may hold what a file name must not.
    return re.sub(r"[^\w.@-]", "_", owner)


def _lock_owner(lock: Path) -> str:
    try:
        return lock.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _lock_holder(owner: str) -> tuple[str, int] | None:
    """(host, process id) from a lock's text "PID@HOST"; a bare "PID" (locks made before hosts were recorded) is
    this host's. None for anything else."""
    pid, at, host = owner.partition("@")
    if not pid.isdigit():
        return None
    return (host if at else socket.gethostname()), int(pid)


def _age(path: Path) -> str:
    """How long ago `path` was last written, as "3 h 12 min": enough to tell a fresh lock from a forgotten one."""
    minutes = max(0, int(time.time() - path.stat().st_mtime)) // 60  # another machine's clock may run ahead
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"


HELD, ENTERED_AGAIN = "held", "entered again"


def take_lock(lock: Path, abandoned: Callable[[tuple[str, int] | None], bool]) -> str:
    """Try to hold `lock` for this process, without waiting: HELD (made now), ENTERED_AGAIN (this process holds it
    already), or the "PID@HOST" of the live holder. The lock is a file holding its owner's "PID@HOST", made whole
    and then linked into place (atomic on local and network disks). A lock `abandoned(holder)` says is dead
    ((host, pid) from its text; None for text that names no process) is taken over: moved aside under a name of this
    process's own first, so that of two processes taking it over at once only one can, and never a lock a live
    process made meanwhile."""
    host = socket.gethostname()
    mine = f"{os.getpid()}@{host}"
    owner = ""
    for _ in range(3):
        if _create_lock(lock, mine):
            return HELD
        owner = _lock_owner(lock)
        holder = _lock_holder(owner)
        if holder == (host, os.getpid()):
            return ENTERED_AGAIN
        if not owner:
            continue  # released between our try and the read: try again
        if not abandoned(holder):
            return owner
        aside = lock.with_name(f"{lock.name}.stale-{_file_safe(mine)}")
        try:
            os.rename(lock, aside)
        except FileNotFoundError:
            continue  # another process moved it first
        if _lock_owner(aside) == owner:
            aside.unlink()  # the dead process's lock: gone, try again
            continue
        os.replace(aside, lock)  # a live process's lock, made after our read: put it back
        owner = _lock_owner(lock) or owner
    return owner


def release_lock(lock: Path) -> None:
    """Delete `lock` if this process holds it (a lock taken over by another process meanwhile is left alone)."""
    if _lock_holder(_lock_owner(lock)) == (socket.gethostname(), os.getpid()):
        lock.unlink(missing_ok=True)


def dead_on_this_host(holder: tuple[str, int] | None) -> bool:
    """A lock whose process is known to be gone: it names none, or one of this host that no longer runs. Another
    host's process cannot be seen from here."""
    return holder is None or (holder[0] == socket.gethostname() and not process_alive(holder[1]))


@contextmanager
def folder_lock(folder: str | Path, setting: str = "save_dir"):
    """Hold `folder` for this process while the block runs: a second run writing the same folder is refused.

    The lock is a file `.NAME.lock` beside the folder (`take_lock`). A lock of this host whose process no longer
    runs (a killed run) is taken over. A lock of another host is never taken over, since this machine cannot see
    whether that process runs (a shared Drive or network disk): the error names the host, the lock's age and the
    command that deletes it. A bare "PID" (an older lock) is this host's. The same process may enter again
    (training holds it, and its final save takes it once more).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.with_name(f".{folder.name}.lock")
    taken = take_lock(lock, dead_on_this_host)
    if taken == HELD:
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
        return
    if taken == ENTERED_AGAIN:
        yield  # already held by this process: it is released by the outer block
        return
    holder = _lock_holder(taken)
    if holder is not None and holder[0] != socket.gethostname():
        raise FolderInUseError(
            f"{setting}={str(folder)!r} is in use by a run on another machine (process {holder[1]} on host "
            f"{holder[0]!r}, its lock made {_age(lock) if lock.exists() else 'a moment'} ago): two runs writing one "
            f"folder would lose one's model, and from here it cannot be seen whether that run still goes. Choose "
            f"another {setting}, or wait for that run to end; if it is gone, delete its lock: "
            f"rm {shlex.quote(str(lock))}"
        )
    if taken:
        raise FolderInUseError(
            f"{setting}={str(folder)!r} is in use by another run (process {holder[1] if holder else taken}): two "
            f"runs writing one folder would lose one's model. Choose another {setting}, or wait for that run to end."
        )
    raise FolderInUseError(
        f"{setting}={str(folder)!r}: could not take its lock {lock}; delete that file if no run is using the folder."
    )
