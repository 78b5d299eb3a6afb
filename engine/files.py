"""Atomic file writes: a reader sees the old or the new content, never half of it.

A full disk (or quota) during a write is a user problem, not a bug: it ends as a UserError naming
the file, and the old content stays as it was.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path

from engine.errors import UserError

NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
"""errno values that mean "the disk (or the user's quota) is full"."""

STALE_TEMP_SECONDS = 60.0
"""A temp file this old belongs to a write that was killed (writes take well under a second)."""


class NoSpaceError(UserError):
    """The disk (or quota) filled up during a write; the message names the file."""


def no_space_error(path: str | os.PathLike, what: str | None = None) -> NoSpaceError:
    """The one line a full disk gets."""
    path = Path(path)
    return NoSpaceError(f"no space left on {path.parent} while writing {what or path.name}; "
                        "free space and retry")


def is_no_space(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in NO_SPACE


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so a reader sees the old or the new content, never half of it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_no_space(e):
            raise no_space_error(path) from None
        raise
    # Not mkstemp: its 0600 mode would make project files unreadable to the user's group (a
    # shared GPU server, a container); 0666 minus the umask is what any other writer gives.
    # Rewriting an existing file keeps its mode.
    while True:
        tmp = str(_temp_name(path))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:
            if is_no_space(e):
                raise no_space_error(path) from None
            raise
    try:
        try:
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        except FileNotFoundError:
            pass
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if is_no_space(e):
            raise no_space_error(path) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(path: str | os.PathLike, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temp files an interrupted :func:`atomic_write_bytes` of ``path`` left behind
    (``.<name>.<8 hex>.tmp`` beside it, older than ``older_than`` seconds so a write in progress
    in another process is left alone).  Returns what was removed."""
    path = Path(path)
    removed = []
    now = time.time()
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        middle = tmp.name[len(path.name) + 2:-len(".tmp")]
        if len(middle) != 8 or any(ch not in "0123456789abcdef" for ch in middle):
            continue
        try:
            if tmp.is_file() and not tmp.is_symlink() and now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


@contextmanager
def exclusive_lock(path: str | os.PathLike, create: bool = False):
    """Hold an exclusive ``flock`` on ``path`` (a folder, or a lock file made when ``create``)
    for the ``with`` block, so two processes take turns; the OS releases it if the process
    dies.  A path that cannot be opened (a folder moved away) locks nothing: the caller's own
    write then names the problem."""
    try:
        fd = os.open(path, (os.O_RDWR | os.O_CREAT) if create else os.O_RDONLY, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
