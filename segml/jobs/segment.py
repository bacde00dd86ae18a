"""``segml segment`` and ``segml report``: what they read from the config (the rule set, the
orders table, the tracking store and registry names), unpacked here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from segml.config import Config
from segml.errors import ConfigError
from segml.exports import (
    SegmentRun,
    build_destinations,
    destination_columns,
    dry_run,
    export_segments,
)
from segml.jobs.common import tracking_uri
from segml.report import write_report
from segml.segments import Segmenter, readout

__all__ = ["readout_job", "report_job", "rule_path", "segment_job", "segment_plan"]


def segment_job(
    cfg: Config,
    *,
    scores: Path,
    out: Path,
    rules: Path | None = None,
    previous: Path | None = None,
    as_of: str | None = None,
    source: Any = "the config",
) -> SegmentRun:
    """Segment ``scores`` with ``rules`` (default: the config's ``segments:``) into ``out``."""
    return export_segments(
        scores,
        rules=rule_path(cfg, rules, source=source),
        out=out,
        previous=previous,
        as_of=as_of,
        destinations=cfg.exports,
        contacts=contacts_for(cfg),
    )


def contacts_for(cfg: Config) -> Any:
    """The customers' contact details (``ShopData.contacts``) when a destination of the
    config needs them (ad platforms, email lists), else None: the config's tables are read and
    validated only then."""
    if not any(d.contacts() for d in build_destinations(cfg.exports.destinations)):
        return None
    if cfg.data.customers is None and not cfg.data.synthetic_customers:
        return None
    from segml.datasets import load_tables
    from segml.schema import prepare

    return prepare(load_tables(cfg), config=cfg).contacts


def rule_path(cfg: Config, rules: Path | None, *, source: Any = "the config") -> Path:
    """``rules`` if given, else the config's ``segments:`` rule set."""
    if rules is None and cfg.segments is None:
        raise ConfigError(
            f"{source}: no rule set; set segments: PATH in the config (e.g. segments: "
            "segments.yaml) or pass --rules PATH. configs/segments.yaml is an example."
        )
    return rules if rules is not None else cfg.resolve(cfg.segments or "")


def segment_plan(
    cfg: Config,
    *,
    scores: Path,
    rules: Path | None = None,
    as_of: str | None = None,
    source: Any = "the config",
) -> tuple[pl.DataFrame, list[str]]:
    """What ``segment_job`` would write (the destinations' files, rows, columns and excluded
    customers; ``segml.exports.dry_run``) and the destinations' notes, writing nothing."""
    result = Segmenter(rules=rule_path(cfg, rules, source=source), as_of=as_of).fit_segment(
        scores, carry=destination_columns(cfg.exports)
    )
    return dry_run(result, destinations=cfg.exports, contacts=contacts_for(cfg))


def readout_job(cfg: Config, run: Path, *, orders: Path | None, start: str, end: str) -> Any:
    """Treatment vs control per segment of ``run`` over ``[start, end)``, from ``orders``
    (default: the config's orders table)."""
    members = run / "members.parquet" if run.is_dir() else run
    if orders is None:
        from segml.datasets import open_tables

        table: Any = open_tables(cfg.data, engine=cfg.engine, base_dir=cfg.base_dir)["orders"]
    else:
        table = orders
    return readout(members, table, start=start, end=end, config=cfg.data)


def report_job(
    run_dir: Path,
    *,
    cfg: Config | None,
    out: Path | None = None,
    tracking: str | None = None,
    previous: Path | None = None,
) -> Path:
    """Write a run's HTML report; with ``cfg`` its tracking store (unless ``tracking``) and
    registry names."""
    names: dict[str, Any] = {}
    if cfg is not None:
        tracking = tracking or tracking_uri(cfg)
        names = {
            "registry_prefix": cfg.training.registry_prefix,
            "cluster_model": cfg.clustering.registry_name,
        }
    return write_report(run_dir, out=out, tracking_uri=tracking, previous=previous, **names)
