"""One job per output at a time: an exclusive lock file beside the output.

The lock is an OS advisory lock, released by the OS when the process ends, even when it is
killed, so a crashed job never leaves a stale lock. POSIX uses ``flock`` (``fcntl``), Windows
``msvcrt.locking`` on one byte of the lock file. Both are imported when a lock is taken, not
when ``segml`` is imported, so ``import segml`` works on every platform.

``atomic_dir`` takes the lock again, ``reentrant``, inside the job that holds it (``score_job``
locks the partition, then publishes it); any other second taker, even in the same process, waits
or is refused. The OS lock is released when the outermost holder leaves.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from segml.errors import JobLockedError, SegmlError

__all__ = ["exclusive_lock", "lock_path"]

_HELD: dict[str, int] = {}  # lock files this process holds -> nesting depth
_BUSY = {  # errno of a lock another process holds (flock: EWOULDBLOCK; msvcrt: EDEADLOCK/EACCES)
    getattr(errno, name)
    for name in ("EAGAIN", "EWOULDBLOCK", "EACCES", "EDEADLK", "EDEADLOCK")
    if hasattr(errno, name)
}
_MSVCRT_BYTE = 1 << 20  # Windows locks this byte, so the holder's pid at offset 0 stays readable


def lock_path(path: Path) -> Path:
    """The lock file of an output: ``.<name>.lock`` beside it."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def exclusive_lock(
    path: str | Path, *, wait: bool = False, reentrant: bool = False
) -> Iterator[None]:
    """Hold an exclusive lock file beside an output; a second holder waits or is refused
    (``JobLockedError``, exit 6, naming the holder's pid). ``reentrant``: pass through when
    this process holds the lock already (a second job in the same process is still refused)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock_path(path).absolute())
    if reentrant and _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    with open(key, "a+") as handle:
        _acquire(handle, path, wait=wait)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            _release(handle)


def _acquire(handle: IO[str], path: Path, *, wait: bool) -> None:
    try:
        _os_lock(handle, wait=wait)
    except OSError as err:
        if err.errno not in _BUSY:
            raise
        raise JobLockedError(
            f"another job ({_holder(handle)}) is writing {path}; wait for it to finish, or run "
            "again with --wait to queue behind it."
        ) from err


def _holder(handle: IO[str]) -> str:
    try:
        handle.seek(0)
        return handle.read().strip() or "another process"
    except OSError:
        return "another process"


def _os_lock(handle: IO[str], *, wait: bool) -> None:
    fcntl = _module("fcntl")
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        return
    msvcrt = _windows_locking()
    while True:
        handle.seek(_MSVCRT_BYTE)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return
        except OSError as err:
            if not wait or err.errno not in _BUSY:
                raise
        time.sleep(0.2)


def _release(handle: IO[str]) -> None:
    fcntl = _module("fcntl")
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    msvcrt = _windows_locking()
    handle.seek(_MSVCRT_BYTE)
    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


def _windows_locking() -> Any:
    msvcrt = _module("msvcrt")
    if msvcrt is None:
        raise SegmlError(
            "cannot lock the output: this platform has neither fcntl (POSIX) nor msvcrt "
            "(Windows). segml needs one of them to keep two jobs from writing the same partition."
        )
    return msvcrt


def _module(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None
