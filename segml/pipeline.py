"""`segml run`: the whole job for a first-time user, from raw data to audiences and a report.

validate -> train (purchase, lapse, value) -> cluster -> score -> segment -> report. Each step is
the same code as its own command; this module only chains them with plain arguments. The report
is written into the partition before it is published, so the partition appears with it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from segml.config import Config
from segml.engine import parse_as_of
from segml.io import atomic_file
from segml.report import REPORT_NAME, build_report
from segml.report.inputs import previous_run_dir
from segml.schema import ShopData
from segml.score_job import BeforePublish, score_job
from segml.tracking import default_tracking_uri

__all__ = ["run_pipeline", "score_and_report"]


def _tracking_uri(cfg: Config) -> str:
    return cfg.tracking_uri or default_tracking_uri(cfg.resolve(cfg.output_dir))


def score_and_report(
    shop: ShopData,
    cfg: Config,
    *,
    as_of: Any,
    out: Path,
    wait: bool = False,
    report: bool | None = None,
    allow_future_models: bool = False,
) -> dict[str, Any]:
    """``segml score``: the scoring job (``segml.score_job``), with the partition's
    ``report.html`` built inside the new version before it is published: always
    (``report=True``, ``segml run``), never (False), or when the partition it replaces has one
    (None: a ``segml score`` over a partition ``segml run`` wrote keeps a current report)."""
    cutoff = parse_as_of(as_of)
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    hook = None if report is False else _report_hook(cfg, partition, always=bool(report))
    return score_job(shop, cfg, as_of=cutoff, out=out, wait=wait, before_publish=hook,
                     allow_future_models=allow_future_models)  # fmt: skip


def _report_hook(cfg: Config, partition: Path, *, always: bool) -> BeforePublish:
    def write(staging: Path, replaced: Path | None) -> None:
        if not always and (replaced is None or not (replaced / REPORT_NAME).is_file()):
            return
        text = build_report(staging, tracking_uri=_tracking_uri(cfg), label=partition,
                            previous=previous_run_dir(partition),
                            registry_prefix=cfg.training.registry_prefix,
                            cluster_model=cfg.clustering.registry_name)  # fmt: skip
        with atomic_file(staging / REPORT_NAME) as tmp:
            tmp.write_text(text, encoding="utf-8")

    return write


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
    manifest = score_and_report(shop, cfg.model_copy(update={"scoring": scoring}), as_of=cutoff,
                                out=out, wait=wait, report=True)  # fmt: skip
    seconds["score_and_report"] = time.perf_counter() - started - sum(seconds.values())
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    return {
        "report": partition / REPORT_NAME,
        "outcomes": outcomes,
        "clusters": clusters,
        "manifest": manifest,
        "partition": partition,
        "tracking_uri": _tracking_uri(cfg),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
    }
