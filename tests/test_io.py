"""Atomic writes: a failure inside the block leaves the previous output untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from segml.errors import DataError
from segml.io import atomic_dir, atomic_file, remove_stale_scratch, write_frame


def test_atomic_file_keeps_previous_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_dir_swaps_whole_folders(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2024-01-01"
    with atomic_dir(target) as tmp:
        (tmp / "x.parquet").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "x.parquet").write_text("v2-partial")
        raise RuntimeError("killed")
    assert (target / "x.parquet").read_text() == "v1"
    with atomic_dir(target) as tmp:
        (tmp / "y.parquet").write_text("v3")
    assert sorted(p.name for p in target.iterdir()) == ["y.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["as_of=2024-01-01"]


def test_write_frame_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"must end in .parquet or .csv, found '.xlsx'"):
        write_frame(pl.DataFrame({"a": [1]}), tmp_path / "f.xlsx")


def _killed_job(tmp_path: Path) -> Path:
    """The scratch folder of a segml process killed with SIGKILL (so its exit hook never ran)."""
    code = (
        "import os, signal; from segml.io import scratch_path; "
        "print(scratch_path('.arrow').parent, flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL
    return Path(done.stdout.strip())


def test_scratch_of_killed_processes_is_removed_by_the_next_one(tmp_path: Path) -> None:
    left = _killed_job(tmp_path)
    assert left.is_dir() and left.parent == tmp_path
    (tmp_path / "segml-scratch-not-a-pid").mkdir()  # not ours to judge: kept
    code = "from segml.io import scratch_path; print(scratch_path('.arrow').parent)"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not left.exists()
    assert (tmp_path / "segml-scratch-not-a-pid").is_dir()
    assert not Path(done.stdout.strip()).exists()  # removed at its own exit


def test_scratch_of_running_processes_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / f"segml-scratch-{os.getpid()}-x1"
    mine.mkdir()
    left = _killed_job(tmp_path)
    assert remove_stale_scratch(tmp_path) == [left]
    assert mine.is_dir()
