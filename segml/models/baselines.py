"""The two baselines every run is compared with, on the same backtest rows.

``RFMBaseline``: what a marketer does without segml. Each customer gets recency, frequency and
monetary quintile scores (1-5, 5 = most recent / most frequent / biggest spender, ranked within
its cutoff; 0 for customers without a purchase), and each of the 126 R-F-M cells is scored with
its historical outcome on the training cutoffs: the response rate (purchase, lapse) or the mean
horizon revenue (value), shrunk towards the overall mean for small cells.

``BTYDBaseline``: the buy-till-you-die pair fitted at each cutoff on the history before it
(``segml.models.dataset.btyd_frame``): P(at least one purchase in the horizon) from BG/NBD for
``purchase``, one minus it for ``lapse``, BG/NBD x Gamma-Gamma expected revenue for ``value``.
Customers BG/NBD cannot score (no purchase yet) get the training mean of such customers. Which
column it reads, and whether the target is its complement, is the target's ``TargetSpec.btyd``.

A target lists its baselines by name (``TargetSpec.baselines``); ``make_baseline`` builds them,
and ``register_baseline`` adds a new one (a factory of an estimator with ``fit(frame, y)`` and
``predict(frame)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from segml import targets
from segml.errors import ConfigError, DataError

__all__ = ["BTYDBaseline", "RFMBaseline", "make_baseline", "register_baseline", "rfm_cells"]

_RFM_COLUMNS = ("rfm__recency_days", "rfm__frequency", "rfm__monetary_total")


def _quintile(col: str, *, descending: bool) -> pl.Expr:
    value = -pl.col(col) if descending else pl.col(col)
    bought = pl.col("rfm__frequency") > 0
    rank = pl.when(bought).then(value).otherwise(None).rank("average").over("cutoff")
    n = bought.sum().over("cutoff")
    return pl.when(bought).then((rank / n * 5).ceil().clip(1, 5)).otherwise(0).cast(pl.Int32)


def rfm_cells(frame: pl.DataFrame) -> pl.Series:
    """The R-F-M cell of each row ("000" without a purchase), quintiles within each cutoff."""
    missing = [c for c in ("cutoff", *_RFM_COLUMNS) if c not in frame.columns]
    if missing:
        raise DataError(f"the RFM baseline needs columns {missing}; found {frame.columns[:8]}...")
    scored = frame.select(
        _quintile("rfm__recency_days", descending=True).alias("r"),
        _quintile("rfm__frequency", descending=False).alias("f"),
        _quintile("rfm__monetary_total", descending=False).alias("m"),
    )
    return scored.select(
        pl.concat_str([pl.col("r"), pl.col("f"), pl.col("m")]).alias("rfm_cell")
    ).to_series()


class RFMBaseline(BaseEstimator):  # type: ignore[misc]
    """RFM cell table: each R-F-M quintile cell scored by its outcome on the training cutoffs.

    ``prior_weight`` is the number of pseudo-customers at the overall mean added to every cell.
    """

    def __init__(self, *, prior_weight: float = 20.0) -> None:
        self.prior_weight = prior_weight

    def fit(self, frame: pl.DataFrame, y: Any) -> RFMBaseline:
        y = np.asarray(y, dtype=np.float64)
        cells = rfm_cells(frame)
        table = (
            pl.DataFrame({"cell": cells, "y": y})
            .group_by("cell")
            .agg(pl.col("y").sum().alias("s"), pl.len().alias("n"))
        )
        self.mean_ = float(y.mean())
        w = self.prior_weight
        self.cells_ = dict(
            zip(
                table["cell"].to_list(),
                ((table["s"] + w * self.mean_) / (table["n"] + w)).to_list(),
                strict=True,
            )
        )
        return self

    def predict(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "cells_")
        cells = rfm_cells(frame).to_list()
        return np.array([self.cells_.get(c, self.mean_) for c in cells], dtype=np.float64)


class BTYDBaseline(BaseEstimator):  # type: ignore[misc]
    """BG/NBD (+ Gamma-Gamma for value) scores read from the per-cutoff ``baseline__``/``btyd__``
    columns; ``target`` and ``horizon_days`` pick the column."""

    def __init__(self, *, target: str = "purchase", horizon_days: float = 30) -> None:
        self.target = target
        self.horizon_days = horizon_days

    def _raw(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        h = int(self.horizon_days)
        link = targets.get(self.target).btyd
        if link is None:
            raise ConfigError(
                f"target {self.target!r} has no BG/NBD baseline (its TargetSpec "
                "has btyd=None); leave 'btyd' out of its baselines."
            )
        name = link.baseline(h)
        if name not in frame.columns:
            raise DataError(
                f"the BG/NBD baseline needs column {name!r}; build the training set with horizon "
                f"{h} days among the BG/NBD horizons."
            )
        raw = frame[name].cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)
        return 1.0 - raw if link.flip else raw

    def fit(self, frame: pl.DataFrame, y: Any) -> BTYDBaseline:
        y = np.asarray(y, dtype=np.float64)
        missing = np.isnan(self._raw(frame))
        self.fill_ = float(y[missing].mean()) if missing.any() else float(y.mean())
        return self

    def predict(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "fill_")
        raw = self._raw(frame)
        return np.where(np.isnan(raw), self.fill_, raw)


def _timing(name: str) -> Callable[..., Any]:
    """The next_order baselines (``segml.models.timing``), imported when first made."""

    def factory(*, target: str, horizon_days: float) -> Any:
        from segml.models import timing

        if name == "gap":
            return timing.GapBaseline()
        return timing.BTYDTimingBaseline(horizon_days=horizon_days)

    return factory


# name -> factory(*, target, horizon_days) of a baseline estimator
_FACTORIES: dict[str, Callable[..., Any]] = {
    "rfm": lambda *, target, horizon_days: RFMBaseline(),
    "btyd": lambda *, target, horizon_days: BTYDBaseline(target=target, horizon_days=horizon_days),
    "btyd_timing": _timing("btyd_timing"),
    "gap": _timing("gap"),
}


def register_baseline(name: str, factory: Callable[..., Any]) -> None:
    """Make ``name`` usable in ``TargetSpec.baselines``: ``factory(target=..., horizon_days=...)``
    returns an unfitted estimator with ``fit(frame, y)`` and ``predict(frame)``."""
    if name in ("model", *_FACTORIES):
        raise ConfigError(f"a baseline named {name!r} exists already; pick another name.")
    _FACTORIES[name] = factory


def make_baseline(name: str, *, target: str, horizon_days: float) -> Any:
    """The unfitted baseline ``name`` for ``target`` at ``horizon_days``."""
    if name not in _FACTORIES:
        raise ConfigError(
            f"target {target!r} lists the baseline {name!r}, which is not known; known "
            f"baselines are {sorted(_FACTORIES)} (add one with register_baseline)."
        )
    return _FACTORIES[name](target=target, horizon_days=horizon_days)
