"""Publishing a folder so that a reader always finds a complete one, even when a job is killed.

Layout (docs/reliability.md): the content lives in numbered versions, and the folder's own name
is a symbolic link to the live one::

    <out>/as_of=2024-11-01 -> .versions/as_of=2024-11-01/000002
    <out>/.versions/as_of=2024-11-01/000001/    the previous version (kept for readers)
    <out>/.versions/as_of=2024-11-01/000002/    the live version
    <out>/.as_of=2024-11-01.lock                one job at a time

A job writes into ``.versions/<name>/.staging-<pid>-*``, renames the finished folder to the next
number, then points the link at it with ``os.replace`` of a new link (atomic: a reader opening
``<out>/as_of=...`` sees the old or the new version, each complete, never neither). Only then are
versions deleted, and never the live one nor the one live just before (a reader that resolved the
link a moment ago may still be reading it). A killed job leaves at worst a staging folder, a
finished but unlinked version, or an extra old version; the next job removes them (the staging
folder before it starts, the rest after its own link moved).

Where symbolic links cannot be made (Windows without the privilege, some FUSE mounts), the folder
is a real directory and is replaced by two renames (live -> a version, new version -> live); a
kill between them leaves the name missing for a moment, and the next job (and every reader, see
``resolve_published``) takes the newest version then. A real directory left by an older segml
is swapped for a link atomically on Linux (``renameat2(RENAME_EXCHANGE)``), elsewhere by the
same two renames.

``fault_point`` is a test-only hook: with ``SEGML_FAULT=<step>`` in the environment the process
kills itself (SIGKILL) at that step, so tests can prove what a kill at each step leaves behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob as globlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from segml.io.lock import exclusive_lock

__all__ = ["FAULT_STEPS", "atomic_dir", "fault_point", "published_names", "resolve_published"]

VERSIONS = ".versions"
_STAGING = ".staging-"
_ACTIVE: set[Path] = set()  # staging folders of this process: nested writes need no versions

FAULT_STEPS = (
    "score:before_write",  # the job's staging folder exists, nothing written in it
    "score:mid_write",  # scores.parquet written, drift.csv and the manifest not yet
    "score:manifest",  # the manifest's bytes are in its temporary file, not yet renamed
    "publish:staged",  # the staging folder is complete, not yet renamed to a version
    "publish:between_renames",  # the new version is in place, the link still names the old one
    "publish:retired",  # no-link mode: the live folder renamed aside, the new one not yet in
    "publish:after_pointer",  # the link names the new version, old versions not yet deleted
    "score:mlflow",  # published; the MLflow run is open, its artifacts not yet logged
)


def fault_point(step: str) -> None:
    """Test-only hook: kill this process (SIGKILL, no clean-up runs) when ``SEGML_FAULT`` is
    ``step``; otherwise do nothing. The steps are ``FAULT_STEPS``."""
    if step not in FAULT_STEPS:
        raise ValueError(f"unknown fault step {step!r}; expected one of {FAULT_STEPS}.")
    if os.environ.get("SEGML_FAULT") != step:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # Windows: no SIGKILL; _exit skips every clean-up as well


def versions_folder(path: Path) -> Path:
    """Where the versions of ``path`` live: ``<parent>/.versions/<name>``."""
    return path.parent / VERSIONS / path.name


def _versions(root: Path) -> list[Path]:
    """The complete versions (every folder whose name is a number), oldest first."""
    if not root.is_dir():
        return []
    return sorted(
        (p for p in root.iterdir() if p.name.isdigit() and p.is_dir()), key=lambda p: int(p.name)
    )


def _next_version(root: Path) -> Path:
    found = _versions(root)
    return root / f"{int(found[-1].name) + 1 if found else 1:06d}"


def _live(path: Path) -> Path | None:
    """The folder ``path`` publishes now: its link's target, the folder itself, or None."""
    if path.is_symlink():
        target = path.parent / os.readlink(path)
        return target if target.is_dir() else None
    return path if path.is_dir() else None


def resolve_published(path: str | Path) -> Path:
    """The folder to read for a published ``path``, resolved once so that a publish during the
    read cannot mix two versions: the version its link names, the folder itself (no-link mode or
    an older layout), or, when a killed publish left the name missing, the newest complete
    version. ``path`` unchanged when none of these exists."""
    path = Path(path)
    live = _live(path)
    if live is not None:
        return Path(os.path.realpath(live))
    found = _versions(versions_folder(path))
    return found[-1] if found else path


def published_names(folder: str | Path) -> list[str]:
    """Names of the published folders in ``folder`` (also one whose name a killed publish left
    missing but whose versions exist), sorted."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir()}
    store = folder / VERSIONS
    if store.is_dir():
        names |= {p.name for p in store.iterdir() if _versions(p)}
    return sorted(names)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder; publish it as ``path`` only if the block succeeds.

    At every instant ``path`` is the previous or the new complete folder (module docstring). The
    publish holds ``path``'s lock (taken again if the caller holds it already; a second job waits).
    Inside another staging folder (a job's ``segments/``) the folder is simply renamed into place:
    the outer publish makes it visible.
    """
    path = Path(path)
    if any(Path(os.path.abspath(path)).is_relative_to(active) for active in _ACTIVE):
        with _plain_dir(path) as tmp:
            yield tmp
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path, wait=True, reentrant=True):
        root = _recover(path)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=root))
        _ACTIVE.add(Path(os.path.abspath(staging)))
        try:
            yield staging
            staging.chmod(0o755)
            fault_point("publish:staged")
            _publish(path, staging)
        finally:
            _ACTIVE.discard(Path(os.path.abspath(staging)))
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _plain_dir(path: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if path.exists():  # inside an unpublished staging folder: nobody reads it yet
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _publish(path: Path, staging: Path) -> None:
    root = staging.parent
    before = _live(path)
    version = _next_version(root)
    os.rename(staging, version)
    fault_point("publish:between_renames")
    if path.is_dir() and not path.is_symlink():
        before = _replace_folder(path, version)
    else:
        _point(path, version)
    _sync(path.parent)
    fault_point("publish:after_pointer")
    _prune(path, keep=before)


def _point(path: Path, version: Path) -> None:
    """Make ``path`` name ``version``: replace the link atomically, or (no links here) rename
    the version into place."""
    link = _new_link(path, version)
    if link is not None:
        os.replace(link, path)
        return
    if path.is_symlink():  # dangling: a copy of an output made where links work
        path.unlink()
    os.rename(version, path)  # nothing is live at path


def _replace_folder(path: Path, version: Path) -> Path:
    """``path`` is a real folder (no-link mode or an older segml): put ``version`` in its place
    and return where the old folder went (a version, kept as the previous one)."""
    retired = _next_version(version.parent)
    link = _new_link(path, version)
    if link is not None and _exchange(link, path):
        os.rename(link, retired)  # the old folder, swapped out to the link's name
        return retired
    if link is not None:
        os.unlink(link)
    os.rename(path, retired)
    fault_point("publish:retired")
    if link is not None:
        _point(path, version)
    else:
        os.rename(version, path)
    return retired


def _new_link(path: Path, version: Path) -> Path | None:
    """A new symbolic link ``.<name>.link-<pid>`` beside ``path`` naming ``version`` (relative,
    so the whole output folder can be moved or copied); None where links cannot be made."""
    link = path.with_name(f".{path.name}.link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    try:
        _symlink(os.path.relpath(version, path.parent), link)
    except (OSError, NotImplementedError):
        return None
    return link


def _symlink(target: str, link: Path) -> None:
    os.symlink(target, link, target_is_directory=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two names atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    platform or file system has no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc before 2.28, or another libc
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _recover(path: Path) -> Path:
    """Before a job stages (under the lock): delete what no one can read (staging folders, link
    files), file away old copies a killed job left outside ``.versions``, and make sure ``path``
    names a complete version again if a kill left it missing. Deletes no complete copy."""
    root = versions_folder(path)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{_STAGING}*"):
        shutil.rmtree(stale, ignore_errors=True)
    name = globlib.escape(path.name)
    strays = [*path.parent.glob(f".{name}.link-*"), *path.parent.glob(f".{name}.old-*")]
    for stray in strays:  # .old-*: segml < 0.2 renamed the live folder aside before the swap
        if stray.is_symlink():
            stray.unlink()
        elif stray.is_dir():
            os.rename(stray, _next_version(root))
    if _live(path) is None and _versions(root):
        _point(path, _versions(root)[-1])
    if _live(path) is not None:  # segml < 0.2's staging folders, complete or not
        for stale in path.parent.glob(f".{name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
    return root


def _prune(path: Path, *, keep: Path | None) -> None:
    """After the link moved: delete every version but the live one and ``keep`` (the one live
    just before)."""
    kept = {p.resolve() for p in (_live(path), keep) if p is not None}
    for version in _versions(versions_folder(path)):
        if version.resolve() not in kept:
            shutil.rmtree(version, ignore_errors=True)


def _sync(folder: Path) -> None:
    """Flush a folder's entries (the renames) to disk where the OS allows it."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
