"""Atomic writes: a failure inside the block leaves the previous output untouched."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from segml.errors import DataError
from segml.io import atomic_dir, atomic_file, write_frame


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
