"""``segml train``: the config's ``training:`` section unpacked into ``train_models``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segml import targets as target_registry
from segml.config import Config
from segml.errors import ConfigError
from segml.jobs.common import feature_params, tracking_uri
from segml.models.dataset import materialize
from segml.models.experiment import TrainOutcome, train_models
from segml.models.promotion import PromotionRule
from segml.schema import ShopData

__all__ = ["target_specs", "train", "train_job"]


def train_job(
    shop: ShopData, cfg: Config, *, targets: Sequence[str], now: Any = None, tune: int = 0
) -> list[TrainOutcome]:
    """Train ``targets`` as of ``now`` (else ``training.now``, else today in UTC) on the shop's
    tables collected once."""
    when = now or cfg.training.now or f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    return train(materialize(shop), cfg, now=when, targets=targets, tune=tune)


def target_specs(
    shop: ShopData, cfg: Config, *, now: Any, targets: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Each target's ``horizon_days``, ``lookback_days`` and ``refit`` as ``train_models`` takes
    them: ``TrainingConfig.target`` (its own key or ``training.targets.<name>``, unset fields from
    its ``TargetSpec``), an ``auto`` horizon derived on the data before the backtest cutoff."""
    t = cfg.training
    specs: dict[str, dict[str, float]] = {}
    for name in targets:
        tc, spec = t.target(name), target_registry.get(name)
        horizon = tc.horizon_days
        if horizon == "auto":
            if spec.auto_horizon is None:
                raise ConfigError(
                    f"training.{name}.horizon_days: 'auto' is available only for a target with "
                    "an auto_horizon (lapse); give a number of days."
                )
            derive = target_registry.resolve(spec.auto_horizon)
            horizon = derive(shop, now=now, quantile=tc.auto_quantile, backtest=True)
        specs[name] = {
            "horizon_days": float(horizon),
            "lookback_days": float(tc.lookback_days),
            "refit": float(tc.refit),
        }
    return specs


def train(
    shop: ShopData, cfg: Config, *, now: Any, targets: Sequence[str], tune: int = 0
) -> list[TrainOutcome]:
    """``train_models`` with the config's settings: cutoffs, features, LightGBM, tuning store,
    tracking store, registry names and the promotion rule."""
    t = cfg.training
    out_dir = cfg.resolve(cfg.output_dir)
    return train_models(
        shop,
        now=now,
        targets=target_specs(shop, cfg, now=now, targets=targets),
        n_cutoffs=t.cutoffs,
        cutoff_step=t.cutoff_step,
        feature_params=feature_params(cfg),
        model_params={"n_jobs": t.n_jobs, **t.lightgbm},
        tune_trials=tune,
        study_storage=t.optuna_storage or f"sqlite:///{Path(out_dir).resolve() / 'optuna.db'}",
        seed=t.seed,
        tracking_uri=tracking_uri(cfg),
        experiment=t.experiment,
        registry_prefix=t.registry_prefix,
        data_name=_data_name(cfg),
        promotion=PromotionRule(**t.promotion.model_dump(), seed=t.seed),
    )


def _data_name(cfg: Config) -> str:
    d = cfg.data
    if d.synthetic_customers:
        return f"synthetic{d.synthetic_customers}s{d.synthetic_seed}"
    return Path(d.orders.path or "data").name.split(".")[0]
