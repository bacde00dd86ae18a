"""`segml run`: the whole job for a first-time user, from raw data to audiences and a report.

validate -> train (purchase, lapse, value) -> cluster -> score -> segment -> report. Each step is
the same job as its own command (``segml.jobs.train``, ``.cluster``, ``.score``); this module
only chains them. The report is written into the partition before it is published, so the
partition appears with it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from segml.config import Config
from segml.engine import parse_as_of
from segml.jobs.cluster import cluster_job
from segml.jobs.common import tracking_uri
from segml.jobs.score import score_and_report
from segml.jobs.train import train
from segml.models.dataset import materialize
from segml.progress import step
from segml.report import REPORT_NAME
from segml.schema import ShopData

__all__ = ["run_pipeline"]


def run_pipeline(
    shop: ShopData, cfg: Config, *, as_of: Any, out: Path, wait: bool = False, tune: int = 0
) -> dict[str, Any]:
    """Train, cluster and score as of ``as_of``; returns where everything was written.

    Models are trained with ``training.now = as_of`` unless the config sets ``training.now``.
    A target whose model did not beat its baselines has no champion and is not scored.
    """
    cutoff = parse_as_of(as_of)
    seconds: dict[str, float] = {}
    with step("load data") as task:
        shop = materialize(shop)
    seconds["load data"] = task.elapsed()
    now = cfg.training.now or f"{cutoff:%Y-%m-%d}"
    targets = list(cfg.scoring.targets)
    started = time.perf_counter()  # train_models reports its own "train" step
    outcomes = train(shop, cfg, now=now, targets=targets, tune=tune)
    seconds["train"] = time.perf_counter() - started
    clusters = None
    if cfg.scoring.clusters:
        with step("cluster") as task:
            clusters = cluster_job(shop, cfg, as_of=cutoff)
        seconds["cluster"] = task.elapsed()
    scoring = cfg.scoring.model_copy(update={"missing_model": "skip"})
    with step("score") as task:
        manifest = score_and_report(
            shop,
            cfg.model_copy(update={"scoring": scoring}),
            as_of=cutoff,
            out=out,
            wait=wait,
            report=True,
        )
    seconds["score and report"] = task.elapsed()
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    return {
        "report": partition / REPORT_NAME,
        "outcomes": outcomes,
        "clusters": clusters,
        "manifest": manifest,
        "partition": partition,
        "tracking_uri": tracking_uri(cfg),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
    }
