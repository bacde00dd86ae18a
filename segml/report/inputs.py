"""Find and read what the jobs wrote: one run folder, its predecessor, and the tracking store.

A *run folder* is one partition ``<out>/as_of=DATE/`` written by ``segml score`` or ``segml run``
(``scores.parquet``, ``drift.csv``, ``segments/``, ``_manifest.json``); a partition with only
``features.parquet`` and ``quality.json`` is read too.
A folder of partitions (the ``--out`` of those commands)
stands for its latest partition. The *previous run* is the latest sibling partition with an
earlier date. A partition's name is a link to its live version (``segml.io.publish``): every
reader resolves it once (``segml.io.resolve_published``) and reads all files from that version.
The MLflow store is ``tracking_uri`` when given, else the first ``mlflow.db``
found in the run folder or one of its three parents (the default layout puts it in
``output_dir``, e.g. ``runs/mlflow.db`` beside ``runs/scores/as_of=DATE/``).

Every reader returns None for an input that is absent; the report says so instead of failing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from segml.errors import DataError
from segml.io import published_names, resolve_published

__all__ = ["RunInputs", "find_tracking_uri", "read_run", "resolve_run_dir"]

_PARTITION = re.compile(r"^as_of=(\d{4}-\d{2}-\d{2})$")


def _partitions(folder: Path) -> list[Path]:
    """The published ``as_of=DATE`` partitions in ``folder`` (``segml.io.published_names``)."""
    return [folder / name for name in published_names(folder) if _PARTITION.match(name)]


def resolve_run_dir(run_dir: str | Path) -> Path:
    """The partition a ``--run`` argument names (a folder of partitions: its latest one)."""
    path = Path(run_dir)
    if not resolve_published(path).is_dir():
        raise DataError(
            f"--run {str(path)!r} is not a folder; pass a run partition (e.g. "
            "runs/scores/as_of=2024-11-01) or the folder of partitions a job wrote."
        )
    if _PARTITION.match(path.name) or (path / "_manifest.json").is_file():
        return path
    parts = _partitions(path)
    if not parts:
        raise DataError(
            f"{str(path)!r} has no _manifest.json and no as_of=DATE partitions; pass the folder "
            "`segml score --out` or `segml run --out` wrote, or one of its as_of=DATE folders."
        )
    return parts[-1]


def previous_run_dir(run: Path) -> Path | None:
    """The latest sibling partition dated before ``run`` (None when there is none)."""
    match = _PARTITION.match(run.name)
    if match is None or not run.parent.is_dir():
        return None
    earlier = [p for p in _partitions(run.parent) if p.name < run.name]
    return earlier[-1] if earlier else None


def find_tracking_uri(run: Path) -> str | None:
    """``sqlite:///.../mlflow.db`` of the first store in ``run`` or one of its three parents."""
    run = Path(os.path.abspath(run))  # the parents of the partition's name, not of its version
    for folder in [run, *list(run.parents)[:3]]:
        if (folder / "mlflow.db").is_file():
            return f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    return None


@dataclass
class RunInputs:
    """Everything read from one run folder (None: not there)."""

    path: Path  # as given (e.g. runs/scores/as_of=2024-11-01)
    folder: Path | None = None  # the version read (the link's target), None: ``path``
    manifest: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, dict[str, int]] | None = None
    scores: pl.DataFrame | None = None  # scores.parquet, else features.parquet
    drift: pd.DataFrame | None = None
    segment_report: dict[str, Any] | None = None
    members: pl.DataFrame | None = None

    @property
    def as_of(self) -> str:
        value = self.manifest.get("as_of") or self.path.name.removeprefix("as_of=")
        return str(value)[:10]

    @property
    def kind(self) -> str:
        return "score" if ((self.folder or self.path) / "scores.parquet").is_file() else "run"


def _json(path: Path) -> Any | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err}); rerun the job that wrote it.") from err


def _parquet(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.is_file() else None


def read_run(run: Path) -> RunInputs:
    """Read the files of one partition (absent files stay None), all from the version its name
    links to when reading starts, so a job publishing meanwhile cannot mix two versions."""
    path, run = run, resolve_published(run)
    manifest = _json(run / "_manifest.json") or {}
    quality = manifest.get("quality") or _json(run / "quality.json")
    scores = _parquet(run / "scores.parquet")
    if scores is None:
        scores = _parquet(run / "features.parquet")
    drift = pd.read_csv(run / "drift.csv") if (run / "drift.csv").is_file() else None
    seg = run / "segments"
    return RunInputs(
        path=path,
        folder=run,
        manifest=manifest,
        quality=quality,
        scores=scores,
        drift=drift,
        segment_report=_json(seg / "report.json"),
        members=_parquet(seg / "members.parquet"),
    )
