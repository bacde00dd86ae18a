"""``segml backtest``: the config's training settings unpacked into ``segml.models.backtest``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from segml.config import Config
from segml.errors import ConfigError
from segml.jobs.common import feature_params
from segml.models.backtest import BacktestResult, backtest
from segml.schema import ShopData

__all__ = ["backtest_job"]


def backtest_job(
    shop: ShopData,
    cfg: Config,
    *,
    dates: Sequence[str],
    targets: Sequence[str],
    horizon: str | None = None,
    n_cutoffs: int = 6,
    n_boot: int = 300,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Backtest ``targets`` at ``dates``; ``horizon`` (days or ``auto``) overrides each
    target's configured horizon."""
    t = cfg.training
    specs = {
        n: {
            "horizon_days": _horizon(horizon or t.target(n).horizon_days),
            "lookback_days": float(t.target(n).lookback_days),
        }
        for n in targets
    }
    return backtest(
        shop,
        dates=list(dates),
        targets=specs,
        n_cutoffs=n_cutoffs,
        n_boot=n_boot,
        seed=t.seed,
        feature_params=feature_params(cfg),
        model_params={"n_jobs": t.n_jobs, **t.lightgbm},
        progress=progress,
    )


def _horizon(value: Any) -> float | str:
    if value == "auto":
        return "auto"
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--horizon must be a number of days or 'auto'; got {value!r}.") from None
