"""`segml run`: the whole job for a first-time user, from raw data to audiences and a report.

validate -> train (purchase, lapse, value) -> cluster -> score -> segment -> report. Each step is
the same code as its own command; this module only chains them with plain arguments.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from segml.config import Config
from segml.engine import parse_as_of
from segml.report import write_report
from segml.schema import ShopData
from segml.score_job import score_job
from segml.tracking import default_tracking_uri

__all__ = ["run_pipeline"]


def run_pipeline(
    shop: ShopData, cfg: Config, *, as_of: Any, out: Path, wait: bool = False, tune: int = 0
) -> dict[str, Any]:
    """Train, cluster and score as of ``as_of``; returns where everything was written.

    Models are trained with ``training.now = as_of`` unless the config sets ``training.now``.
    A target whose model did not beat its baselines has no champion and is not scored.
    """
    from segml.clusters.job import cluster_from_config
    from segml.models.dataset import materialize
    from segml.models.experiment import train_from_config

    cutoff = parse_as_of(as_of)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    shop = materialize(shop)
    now = cfg.training.now or f"{cutoff:%Y-%m-%d}"
    targets = list(cfg.scoring.targets)
    outcomes = train_from_config(shop, cfg, now=now, targets=targets, tune=tune)
    seconds["train"] = time.perf_counter() - started
    clusters = cluster_from_config(shop, cfg, as_of=cutoff) if cfg.scoring.clusters else None
    seconds["cluster"] = time.perf_counter() - started - sum(seconds.values())
    scoring = cfg.scoring.model_copy(update={"missing_model": "skip"})
    manifest = score_job(shop, cfg.model_copy(update={"scoring": scoring}), as_of=cutoff,
                         out=out, wait=wait)  # fmt: skip
    seconds["score"] = time.perf_counter() - started - sum(seconds.values())
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    uri = cfg.tracking_uri or default_tracking_uri(cfg.resolve(cfg.output_dir))
    report = write_report(partition, tracking_uri=uri, registry_prefix=cfg.training.registry_prefix,
                          cluster_model=cfg.clustering.registry_name)  # fmt: skip
    seconds["report"] = time.perf_counter() - started - sum(seconds.values())
    return {
        "report": report,
        "outcomes": outcomes,
        "clusters": clusters,
        "manifest": manifest,
        "partition": partition,
        "tracking_uri": uri,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
    }
