"""Read-only files and folders that hold for root too, so the fault tests are honest.

The suite runs as root, and root ignores permission bits: ``chmod a-w`` stops nothing. As root
the paths get the immutable attribute (``chattr +i``): no process, root included, may write,
create, rename or delete in them, exactly what a read-only mount or another owner's files do to
a job. For any other user ``chmod a-w`` is enough. Each use checks that a write really fails
before the test relies on it, and skips (saying why) where neither works.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["read_only"]


@contextlib.contextmanager
def read_only(*paths: Path, recursive: bool = True) -> Iterator[None]:
    """Make ``paths`` read-only for the duration of the block (with ``recursive=False`` a
    folder's own entries are fixed while the files in it stay writable)."""
    if os.geteuid() == 0:
        with _immutable(paths, recursive=recursive):
            _assert_unwritable(paths)
            yield
    else:
        with _no_write_bits(paths, recursive=recursive):
            _assert_unwritable(paths)
            yield


@contextlib.contextmanager
def _immutable(paths: tuple[Path, ...], *, recursive: bool) -> Iterator[None]:
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a path read-only for root")
    flags = ["-R"] if recursive else []
    done: list[Path] = []
    try:
        for path in paths:
            proc = subprocess.run([chattr, *flags, "+i", str(path)], capture_output=True, text=True)
            if proc.returncode != 0:
                pytest.skip(f"chattr +i {path} failed ({proc.stderr.strip()}): no read-only test")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run([chattr, *flags, "-i", str(path)], check=True, capture_output=True)


@contextlib.contextmanager
def _no_write_bits(paths: tuple[Path, ...], *, recursive: bool) -> Iterator[None]:
    modes = {p: p.stat().st_mode for path in paths
             for p in [path, *(_children(path) if recursive else [])]}  # fmt: skip
    try:
        for p in sorted(modes, key=lambda q: len(q.parts), reverse=True):
            p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def _children(path: Path) -> list[Path]:
    return list(path.rglob("*")) if path.is_dir() else []


def _assert_unwritable(paths: tuple[Path, ...]) -> None:
    for path in paths:
        try:
            if path.is_dir():
                (path / ".write-probe").touch()
                (path / ".write-probe").unlink()
            else:
                with open(path, "ab"):
                    pass
        except OSError:
            continue
        pytest.skip(f"{path} stayed writable: this system cannot make it read-only")
