"""Train one target end to end: time-based split, model, baselines, backtest metrics.

The split for training at ``now`` (horizon ``h``, monthly cutoffs):

- backtest cutoff ``c_test``: the latest first-of-month with ``c_test + h <= now``;
- validation cutoff ``c_valid``: the latest with ``c_valid + h <= c_test``;
- training cutoffs: the ``n_cutoffs - 1`` months before ``c_valid``.

So the model evaluated on the backtest never saw a label window ending after ``c_test`` (it is
trained "as of" ``c_test``), and the backtest scores are what that model would have said on
``c_test``. That same model is the one logged and registered: its reported metrics are its own.
Both baselines are fitted on the same training rows and scored on the same backtest rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from segml.engine import parse_as_of
from segml.errors import DataError
from segml.labels import TARGETS, label_window_end, monthly_cutoffs
from segml.models.baselines import BTYDBaseline, RFMBaseline
from segml.models.dataset import CutoffCache
from segml.models.metrics import beats, decile_table, metrics_for, reliability_table
from segml.models.propensity import PropensityModel

__all__ = ["Split", "TargetResult", "fit_target", "plan_split"]


@dataclasses.dataclass(frozen=True)
class Split:
    """The cutoffs of one target's training run (oldest first)."""

    train: tuple[dt.datetime, ...]
    valid: dt.datetime
    test: dt.datetime
    horizon_days: float

    def as_dict(self) -> dict[str, str]:
        return {
            "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in self.train),
            "valid_cutoff": f"{self.valid:%Y-%m-%d}",
            "test_cutoff": f"{self.test:%Y-%m-%d}",
            "test_label_window_end": f"{label_window_end(self.test, self.horizon_days):%Y-%m-%d}",
        }


def plan_split(
    *, now: Any, horizon_days: float, n_cutoffs: int, first_data: Any | None = None
) -> Split:
    """The time-based split for training at ``now``; cutoffs before ``first_data`` + 28 days
    (too little history) are dropped. Needs at least one training cutoff."""
    test = monthly_cutoffs(now=now, horizon_days=horizon_days, n_cutoffs=1)[0]
    history = monthly_cutoffs(now=test, horizon_days=horizon_days, n_cutoffs=max(n_cutoffs, 2))
    earliest = parse_as_of(first_data) + dt.timedelta(days=28) if first_data else None
    usable = [c for c in history if earliest is None or c >= earliest]
    if len(usable) < 2:
        raise DataError(
            f"training at now={parse_as_of(now):%Y-%m-%d} with a {horizon_days:g}-day horizon "
            f"needs two cutoffs with history before them and a complete label window before "
            f"{test:%Y-%m-%d}; found {[f'{c:%Y-%m-%d}' for c in usable]}. Use a later now, a "
            "shorter horizon or more history."
        )
    return Split(tuple(usable[:-1]), usable[-1], test, float(horizon_days))


@dataclasses.dataclass
class TargetResult:
    """Everything one target's run produced (logged to MLflow by ``segml.models.experiment``)."""

    target: str
    split: Split
    model: PropensityModel
    metrics: dict[str, dict[str, float]]  # "model" / "rfm" / "btyd" -> metric -> value
    beats_baselines: bool
    rows: dict[str, int]
    test_frame: pl.DataFrame  # customer_id, label, score__model, score__rfm, score__btyd
    seconds: float
    test_rows: pl.DataFrame  # the backtest rows with every model input
    tuned_params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def tables(self) -> dict[str, pl.DataFrame]:
        y = self.test_frame["label"].to_numpy()
        out = {}
        for name in ("model", "rfm", "btyd"):
            s = self.test_frame[f"score__{name}"].to_numpy()
            out[f"deciles_{name}"] = decile_table(y, s)
            if self.target != "value":
                out[f"reliability_{name}"] = reliability_table(y, s)
        return out


def _frames(
    cache: CutoffCache, split: Split, *, target: str, lookback_days: float
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    def rows(cutoffs: Sequence[dt.datetime]) -> pl.DataFrame:
        return cache.labelled(cutoffs, target=target, horizon_days=split.horizon_days,
                              lookback_days=lookback_days)  # fmt: skip

    return rows(split.train), rows([split.valid]), rows([split.test])


def fit_target(
    cache: CutoffCache,
    *,
    target: str,
    now: Any,
    horizon_days: float,
    lookback_days: float = 365,
    n_cutoffs: int = 6,
    model_params: Mapping[str, Any] | None = None,
    tune: Callable[[pl.DataFrame, pl.DataFrame], dict[str, Any]] | None = None,
) -> TargetResult:
    """Split by time, fit the model and both baselines, score all three on the backtest."""
    if target not in TARGETS:
        raise DataError(f"target must be one of {list(TARGETS)}; got {target!r}.")
    started = time.perf_counter()
    split = plan_split(now=now, horizon_days=horizon_days, n_cutoffs=n_cutoffs,
                       first_data=_first_day(cache))  # fmt: skip
    train, valid, test = _frames(cache, split, target=target, lookback_days=lookback_days)
    params = dict(model_params or {})
    tuned = tune(train, valid) if tune is not None else {}
    model = PropensityModel(target=target, **(params | tuned))
    model.fit(train, train["label"], X_valid=valid, y_valid=valid["label"])
    model.metadata_ = {"target": target, "horizon_days": horizon_days, **split.as_dict()}
    fit_rows = pl.concat([train, valid], how="diagonal_relaxed")
    y_fit = fit_rows["label"].to_numpy()
    scores = {
        "model": model.predict(test),
        "rfm": RFMBaseline().fit(fit_rows, y_fit).predict(test),
        "btyd": BTYDBaseline(target=target, horizon_days=horizon_days).fit(fit_rows, y_fit)
        .predict(test),
    }  # fmt: skip
    y = test["label"].to_numpy()
    metrics = {name: metrics_for(target, y, s) for name, s in scores.items()}
    verdict = beats(target, metrics["model"], metrics["rfm"]) and beats(
        target, metrics["model"], metrics["btyd"]
    )
    test_frame = test.select("customer_id", "label").with_columns(
        pl.Series(f"score__{k}", v) for k, v in scores.items()
    )
    rows = {"train": train.height, "valid": valid.height, "test": test.height}
    return TargetResult(target, split, model, metrics, verdict, rows, test_frame,
                        time.perf_counter() - started, test, tuned)  # fmt: skip


def _first_day(cache: CutoffCache) -> dt.datetime:
    import narwhals.stable.v2 as nw

    from segml.engine import collect

    first = collect(cache.shop.orders.select(nw.col("t").min())).item()
    if first is None or (isinstance(first, float) and math.isnan(first)):
        raise DataError("the orders table is empty after cleaning; nothing to train on.")
    return dt.datetime(1970, 1, 1) + dt.timedelta(days=float(first))


def format_table(results: Sequence[TargetResult]) -> str:
    """The backtest table, model vs baselines, one block per target."""
    lines = []
    for r in results:
        names = (
            ["gini", "spearman", "top_decile_revenue_share", "mae"]
            if r.target == "value"
            else ["roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_capture"]
        )
        head = (f"{r.target} (horizon {r.split.horizon_days:g}d, backtest cutoff "
                f"{r.split.test:%Y-%m-%d}, {r.rows['test']:,} customers, "
                f"trained on {r.rows['train'] + r.rows['valid']:,} rows)")  # fmt: skip
        lines += [head, f"  {'':10}" + "".join(f"{n:>14}" for n in names)]
        for who in ("model", "rfm", "btyd"):
            vals = "".join(f"{r.metrics[who].get(n, np.nan):>14.4f}" for n in names)
            lines.append(f"  {who:10}{vals}")
        verdict = "beats both baselines" if r.beats_baselines else (
            "DOES NOT beat the best baseline: it will not become champion")  # fmt: skip
        lines.append(f"  verdict: model {verdict}\n")
    return "\n".join(lines)
