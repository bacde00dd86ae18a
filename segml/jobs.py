"""Jobs: the steps the command line chains, each taking plain arguments unpacked from config."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from pathlib import Path
from typing import Any

import polars as pl

from segml.config import Config
from segml.engine import is_spark, parse_as_of
from segml.features import FeatureBuilder
from segml.io import atomic_dir, exclusive_lock, write_json
from segml.schema import ShopData

__all__ = ["build_feature_table", "config_hash", "run_job"]


def config_hash(cfg: Config) -> str:
    payload = cfg.model_dump_json(exclude={"base_dir"}).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def build_feature_table(
    shop: ShopData, cfg: Config, *, as_of: Any
) -> tuple[pl.DataFrame, FeatureBuilder]:
    """Features as of the cutoff as a Polars frame, with the fitted builder."""
    f = cfg.features
    builder = FeatureBuilder(
        windows_days=tuple(f.windows_days),
        top_k_categories=f.top_k_categories,
        engagement_window_days=f.engagement_window_days,
        intent_window_days=f.intent_window_days,
    ).fit(shop, as_of=as_of)
    native = builder.transform(shop, as_of=as_of)
    if isinstance(native, pl.DataFrame):
        table = native
    elif is_spark(native):
        table = pl.DataFrame(pl.from_arrow(native.toArrow()))
    else:
        table = pl.from_pandas(native)
    return table, builder


def run_job(
    shop: ShopData, cfg: Config, *, as_of: Any, out: Path, wait: bool = False
) -> dict[str, Any]:
    """Validate, build features and write ``out/as_of=DATE/`` atomically with a manifest.

    One job per partition at a time (a lock file beside it); a rerun replaces the partition.
    """
    cutoff = parse_as_of(as_of)
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    with exclusive_lock(partition, wait=wait):
        return _run_locked(shop, cfg, cutoff, partition)


def _run_locked(
    shop: ShopData, cfg: Config, cutoff: dt.datetime, partition: Path
) -> dict[str, Any]:
    started = time.perf_counter()
    table, builder = build_feature_table(shop, cfg, as_of=cutoff)
    seconds = round(time.perf_counter() - started, 3)
    summary = {
        "as_of": cutoff.isoformat(),
        "customers": table.height,
        "features": table.width - 1,
        "categories": builder.categories_,
        "config_hash": config_hash(cfg),
        "tables": sorted(shop.tables()),
    }
    with atomic_dir(partition) as tmp:
        table.write_parquet(tmp / "features.parquet")
        write_json(builder.quality_.to_dict(), tmp / "quality.json")
        write_json(
            {
                **summary,
                "seconds": {"features": seconds},
                "written_at": dt.datetime.now(dt.UTC).isoformat(),
            },
            tmp / "_manifest.json",
        )
    return {"quality": builder.quality_, "summary": summary, "path": str(partition)}
