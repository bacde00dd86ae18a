"""Training sets: features as of each cutoff, BG/NBD + Gamma-Gamma columns, labels after it.

Per cutoff, everything but the label is computed from rows strictly before the cutoff: the
FeatureBuilder's columns, and a BG/NBD and a Gamma-Gamma model fitted on the ``rfm_summary`` of
that same history (daily periods). Their expected purchases, P(alive) and expected value are
offered to the GBM as features (``btyd__*``) and also serve as the buy-till-you-die baseline
(``baseline__btyd_*``, never model inputs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
from sklearn.exceptions import ConvergenceWarning

from segml.engine import (
    AsOf,
    as_of_days,
    attach,
    collect,
    for_engine,
    frame_kind,
    in_memory,
    parse_as_of,
    to_polars,
)
from segml.features import FeatureBuilder, rfm_summary
from segml.labels import label_plan
from segml.models.btyd import BetaGeoModel, GammaGammaModel, expected_value
from segml.schema import ShopData

__all__ = [
    "CutoffCache",
    "btyd_columns",
    "btyd_fit",
    "btyd_frame",
    "materialize",
    "spark_features",
]

MODEL_FEATURE_DESCRIPTIONS = {
    "btyd__p_alive": "BG/NBD probability that the customer is still active (alive)",
    "btyd__expected_purchases_{h}d": "BG/NBD expected purchases in the next {h} days",
    "btyd__p_purchase_{h}d": "BG/NBD probability of at least one purchase in the next {h} days",
    "btyd__expected_value_{h}d": "BG/NBD x Gamma-Gamma expected revenue in the next {h} days",
}


def materialize(shop: ShopData) -> ShopData:
    """Collect the prepared tables once, so each cutoff does not re-read and re-parse files
    (Spark plans stay lazy: Spark distributes the whole plan itself)."""

    def eager(lf: nw.LazyFrame[Any] | None) -> nw.LazyFrame[Any] | None:
        return None if lf is None else in_memory(lf)

    orders = in_memory(shop.orders)
    return dataclasses.replace(
        shop, orders=orders, events=eager(shop.events), customers=eager(shop.customers)
    )


_LAST_FIT: dict[tuple[Any, ...], tuple[Any, Any] | None] = {}


def _fit_btyd(summary: pd.DataFrame, max_rows: int, seed: int) -> tuple[Any, Any] | None:
    """The BG/NBD (+ Gamma-Gamma) fit of ``summary``, remembered for the last summary seen:
    a scoring run fits once for the model inputs (``btyd_frame``) and asks again for its
    lifetime outputs (``btyd_fit``, ``segml.scores.outputs``); the fit is most of the cost
    (about 16 s CPU for 200,000 customers). The key is a hash of the summary's numbers."""
    key = (max_rows, seed, len(summary), _rows_hash(summary))
    if key not in _LAST_FIT:
        _LAST_FIT.clear()
        _LAST_FIT[key] = _fit_btyd_rows(summary, max_rows, seed)
    return _LAST_FIT[key]


def _rows_hash(summary: pd.DataFrame) -> str:
    """The numbers the fit reads, in row order (the sample is drawn by position)."""
    cols = [c for c in ("frequency", "recency", "T", "monetary_value") if c in summary]
    rows = np.ascontiguousarray(summary[cols].to_numpy(dtype=np.float64))
    return hashlib.sha256(rows.tobytes()).hexdigest()


def _fit_btyd_rows(summary: pd.DataFrame, max_rows: int, seed: int) -> tuple[Any, Any] | None:
    fit_rows = summary
    if len(summary) > max_rows:
        fit_rows = summary.sample(max_rows, random_state=seed)
    repeat = fit_rows[(fit_rows["frequency"] > 0) & (fit_rows["monetary_value"] > 0)]
    if len(fit_rows) < 20 or len(repeat) < 10:
        return None
    # No penalty: an L2 penalty on the parameters is not scale-free (alpha is in days, v in
    # currency) and pulled Gamma-Gamma's q below 1 on Online Retail.
    with warnings.catch_warnings():  # a line-search stop near the optimum is good enough here
        warnings.simplefilter("ignore", ConvergenceWarning)
        bg = BetaGeoModel().fit(fit_rows)
        gg = GammaGammaModel().fit(repeat)
    return (bg, gg) if gg.q_ > 1 else (bg, None)


def btyd_frame(
    shop: ShopData,
    cutoff: AsOf,
    *,
    horizons: Iterable[float],
    max_fit_rows: int = 200_000,
    seed: int = 0,
) -> Any:
    """BG/NBD and Gamma-Gamma columns per customer with a purchase before ``cutoff``.

    Features: ``btyd__p_alive``, ``btyd__expected_purchases_{h}d``, ``btyd__expected_value_{h}d``,
    ``btyd__p_purchase_{h}d`` (P(at least one purchase in h days): P(alive) times one minus the
    chance a live customer makes no purchase, ``((alpha+T)/(alpha+T+h))^(r+x)``); baseline
    score: ``baseline__btyd_p_purchase_{h}d``, the same values, never a model input (the
    propensity model may start boosting from the feature, see ``PropensityModel(baseline=)``);
    ``baseline__btyd_timing_scale`` (alpha + T) and ``..._shape`` (r + x), from which
    ``next_order``'s BG/NBD timing baseline reads P(at least one purchase within any t).
    Models are fitted on at most ``max_fit_rows`` customers.

    A Polars DataFrame, or for a Spark shop a Spark DataFrame: the models are fitted on the
    driver (on a sample of at most ``max_fit_rows`` customers) and their closed-form
    expectations computed per partition.
    """
    cut = parse_as_of(cutoff)
    end = cut - dt.timedelta(days=1)
    summary = rfm_summary(shop, observation_period_end=end, time_unit="D")
    columns = for_engine(frame_kind(summary), polars=_local_btyd_frame, spark=_spark_btyd_frame)
    return columns(summary, horizons, max_fit_rows=max_fit_rows, seed=seed)


def _local_btyd_frame(
    summary: Any, horizons: Iterable[float], *, max_fit_rows: int, seed: int
) -> pl.DataFrame:
    """BG/NBD columns in this process, for a pandas or Polars ``rfm_summary``."""
    summary = summary.to_pandas() if isinstance(summary, pl.DataFrame) else pd.DataFrame(summary)
    out = pl.DataFrame({"customer_id": summary["customer_id"].astype(str).to_numpy()})
    fitted = _fit_btyd(summary, max_fit_rows, seed) if len(summary) else None
    return out.with_columns(
        pl.Series(k, v) for k, v in btyd_columns(summary, fitted, horizons).items()
    )


def btyd_fit(
    shop: ShopData,
    cutoff: AsOf,
    *,
    horizons: Iterable[float],
    max_fit_rows: int = 200_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The BG/NBD (+ Gamma-Gamma) fit that ``btyd_frame`` makes at ``cutoff``, as plain data:
    ``{"as_of", "horizons", "params"}`` (``params`` None when too few customers to fit). With
    ``btyd_from_params`` and ``btyd_columns`` it gives the same columns for any customer's
    ``rfm_summary`` row; a served model stores it to add those columns to a feature table."""
    cut = parse_as_of(cutoff)
    summary = rfm_summary(shop, observation_period_end=cut - dt.timedelta(days=1), time_unit="D")
    # as _spark_btyd_frame: the rows in customer order
    summary = to_polars(summary, order_by="customer_id").to_pandas()
    fitted = _fit_btyd(summary, max_fit_rows, seed) if len(summary) else None
    return {
        "as_of": f"{cut:%FT%T}",
        "horizons": sorted({float(h) for h in horizons}),
        "params": btyd_params(fitted),
    }


def btyd_columns(
    summary: pd.DataFrame, fitted: tuple[Any, Any] | None, horizons: Iterable[float]
) -> dict[str, np.ndarray]:
    """The ``btyd__*`` and ``baseline__btyd_*`` columns of ``summary``'s rows, in order."""
    n = len(summary)
    out: dict[str, np.ndarray] = {}
    for h in sorted(set(horizons)):
        hd = int(h)
        cols: dict[str, Any] = {
            f"btyd__expected_purchases_{hd}d": np.nan,
            f"btyd__expected_value_{hd}d": np.nan,
            f"btyd__p_purchase_{hd}d": np.nan,
            f"baseline__btyd_p_purchase_{hd}d": np.nan,
        }
        if fitted is not None:
            bg, gg = fitted
            alive = bg.probability_alive(summary)
            none_if_alive = ((bg.alpha_ + summary["T"]) / (bg.alpha_ + summary["T"] + h)) ** (
                bg.r_ + summary["frequency"]
            )
            cols[f"btyd__expected_purchases_{hd}d"] = bg.expected_purchases(summary, t=h)
            p_purchase = alive * (1 - none_if_alive.to_numpy())
            cols[f"btyd__p_purchase_{hd}d"] = p_purchase
            cols[f"baseline__btyd_p_purchase_{hd}d"] = p_purchase
            if gg is not None:
                cols[f"btyd__expected_value_{hd}d"] = expected_value(bg, gg, summary, t=h)
        out |= {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in cols.items()}
    alive = fitted[0].probability_alive(summary) if fitted is not None else np.nan
    out["btyd__p_alive"] = np.broadcast_to(np.asarray(alive, dtype=np.float64), (n,))
    # next_order's BG/NBD timing baseline: P(>=1 purchase in t) = pa (1 - (s / (s + t)) ** k)
    scale, shape = (
        (fitted[0].alpha_ + summary["T"], fitted[0].r_ + summary["frequency"])
        if fitted is not None
        else (np.nan, np.nan)
    )
    out["baseline__btyd_timing_scale"] = np.broadcast_to(np.asarray(scale, np.float64), (n,))
    out["baseline__btyd_timing_shape"] = np.broadcast_to(np.asarray(shape, np.float64), (n,))
    return out


def btyd_params(fitted: tuple[Any, Any] | None) -> dict[str, Any] | None:
    """Fitted BG/NBD (+ Gamma-Gamma) parameters as plain numbers, to ship to Spark executors."""
    if fitted is None:
        return None
    bg, gg = fitted
    return {
        "bg": {k: float(getattr(bg, f"{k}_")) for k in ("r", "alpha", "a", "b")},
        "gg": None if gg is None else {k: float(getattr(gg, f"{k}_")) for k in ("p", "q", "v")},
    }


def btyd_from_params(params: dict[str, Any] | None) -> tuple[Any, Any] | None:
    """The inverse of ``btyd_params``: models that predict exactly like the fitted ones."""
    if params is None:
        return None
    bg = BetaGeoModel()
    for k, v in params["bg"].items():
        setattr(bg, f"{k}_", v)
    gg = None
    if params["gg"] is not None:
        gg = GammaGammaModel()
        for k, v in params["gg"].items():
            setattr(gg, f"{k}_", v)
    return bg, gg


def _spark_btyd_frame(
    summary: Any, horizons: Iterable[float], *, max_fit_rows: int, seed: int
) -> Any:
    """BG/NBD columns on Spark: fit on a driver-side sample, predict in ``mapInPandas``.

    Up to ``max_fit_rows`` customers the sample is the whole summary in customer order, so the
    fit is the one the default engine makes; beyond, a Spark sample of about that size.
    """
    n = summary.count()
    rows = summary
    if n > max_fit_rows:
        rows = summary.sample(fraction=min(1.0, 1.1 * max_fit_rows / n), seed=seed)
        rows = rows.limit(max_fit_rows)
    fit_rows = rows.sort("customer_id").toPandas() if n else None
    fitted = _fit_btyd(fit_rows, max_fit_rows, seed) if fit_rows is not None else None
    params, horizons = btyd_params(fitted), sorted(set(horizons))
    names = list(
        btyd_columns(
            pd.DataFrame(columns=["frequency", "recency", "T", "monetary_value"], dtype=float),
            None,
            horizons,
        )
    )
    schema = "customer_id string, " + ", ".join(f"`{c}` double" for c in names)

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        models = btyd_from_params(params)
        for batch in batches:
            cols = btyd_columns(batch, models, horizons)
            yield pd.DataFrame({"customer_id": batch["customer_id"].astype(str), **cols})

    return summary.mapInPandas(predict, schema)


def spark_features(
    shop: ShopData,
    builder: FeatureBuilder,
    cutoff: AsOf,
    *,
    horizons: Sequence[float],
    max_fit_rows: int = 200_000,
    seed: int = 0,
) -> Any:
    """``CutoffCache.features`` for a Spark shop, as a Spark DataFrame: the same columns, with
    nothing collected on the driver but the BG/NBD fitting sample."""
    cut = parse_as_of(cutoff)
    base = builder.transform_table(shop, as_of=cut)
    btyd = btyd_frame(shop, cut, horizons=horizons, max_fit_rows=max_fit_rows, seed=seed)
    return base.join(btyd, on="customer_id", how="left")


@dataclasses.dataclass
class CutoffCache:
    """Features (+ BG/NBD columns) per cutoff, computed once and shared by every target."""

    shop: ShopData
    builder: FeatureBuilder
    horizons: Sequence[float]
    max_fit_rows: int = 200_000
    seed: int = 0
    _frames: dict[dt.datetime, pl.DataFrame] = dataclasses.field(default_factory=dict)

    def features(self, cutoff: AsOf) -> pl.DataFrame:
        cut = parse_as_of(cutoff)
        if cut not in self._frames:
            base = to_polars(self.builder.transform_table(self.shop, as_of=cut))
            btyd = to_polars(
                btyd_frame(
                    self.shop,
                    cut,
                    horizons=self.horizons,
                    max_fit_rows=self.max_fit_rows,
                    seed=self.seed,
                )
            )
            self._frames[cut] = attach(base, btyd)  # btyd: the customers with a purchase
        return self._frames[cut]

    def labelled(
        self, cutoffs: Iterable[AsOf], *, target: str, horizon_days: float, lookback_days: float
    ) -> pl.DataFrame:
        """Rows of every cutoff: ``cutoff``, features, ``label`` (population of the target)."""
        parts = []
        for cutoff in cutoffs:
            cut = parse_as_of(cutoff)
            plan = label_plan(
                self.shop,
                as_of_days(cut),
                target=target,
                horizon=float(horizon_days),
                lookback_days=float(lookback_days),
            )
            labels = collect(plan)
            frame = labels.join(self.features(cut), on="customer_id", how="left")
            parts.append(frame.with_columns(pl.lit(cut).alias("cutoff")))
        return pl.concat(parts, how="diagonal_relaxed")
