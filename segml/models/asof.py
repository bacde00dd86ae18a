"""The fair protocol: train as of a scoring date S, and backtest at scoring dates S1..Sn.

One date convention everywhere: **as of S** means features, BG/NBD fits, populations and the
model use only rows strictly before S (``t < S``), and labels cover ``[S, S + horizon)``.
(``rfm_summary`` takes an inclusive ``observation_period_end``, so the matching call is
``rfm_summary(data, observation_period_end=S - 1 day)``; segml does that for you.)

``train_as_of`` fits each target with every training label window closed by S. The training
cutoffs are ``S - h``, ``S - h - step``, ... (so the latest labels end exactly at S), no earlier
than ``min_history_days`` after the first order; ``plan_as_of`` says what it chose:

- ``time`` split (preferred, when at least two training cutoffs are left): the latest cutoff
  validates; training cutoffs are those whose label window ends by it (purged), so early
  stopping, the blend with the baseline and calibration see honest out-of-time rows;
- ``customers`` split, when the history is too short for a purged time split: every cutoff
  trains on four fifths of the customers and the latest cutoff of the remaining fifth validates.

The step is 30 days, or 14 or 7 when 30 leaves fewer than three cutoffs.

``backtest`` runs ``train_as_of`` at each date on the rows before it only, scores at the date and
evaluates on the horizon after it, next to the BG/NBD and RFM baselines; verdicts come from paired
bootstrap intervals (``segml.models.compare``) per date and pooled over dates. Frames are Polars
and customer ids strings throughout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from segml import targets as target_registry
from segml.config import DataSpec
from segml.engine import AsOf, as_of_days, collect, parse_as_of
from segml.errors import ConfigError, DataError
from segml.features import FeatureBuilder
from segml.labels import label_plan
from segml.models.baselines import make_baseline
from segml.models.dataset import CutoffCache, materialize
from segml.models.metrics import metrics_for
from segml.models.propensity import PropensityModel
from segml.models.timing import next_order_columns
from segml.schema import ShopData, prepare

__all__ = ["AsOfFit", "AsOfPlan", "AsOfRun", "history_before", "plan_as_of", "train_as_of"]

_STEPS = (30, 14, 7)
_MIN_CUTOFFS = 3
_MIN_PURGED = 2  # a time split training on a single cutoff wastes the cutoffs the purge drops


@dataclasses.dataclass(frozen=True)
class AsOfPlan:
    """The cutoffs one target trains on as of ``as_of`` (oldest first) and how it validates."""

    as_of: dt.datetime
    horizon_days: float
    train: tuple[dt.datetime, ...]
    valid: dt.datetime
    split: str  # "time" (purged) or "customers"
    step_days: int
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        days = ", ".join(f"{c:%Y-%m-%d}" for c in self.train)
        how = (
            "later cutoff, purged"
            if self.split == "time"
            else "same cutoffs, a fifth of the customers held out"
        )
        text = (
            f"as of {self.as_of:%Y-%m-%d}, {self.horizon_days:g}-day horizon: training "
            f"cutoffs {days} (every {self.step_days} days); validation {self.valid:%Y-%m-%d} "
            f"({how})"
        )
        return "; ".join([text, *self.notes])


def plan_as_of(
    *,
    as_of: AsOf,
    horizon_days: float,
    first_data: Any,
    n_cutoffs: int = 6,
    min_history_days: float = 28,
) -> AsOfPlan:
    """The cutoffs for training as of ``as_of`` (see the module docstring)."""
    if not isinstance(n_cutoffs, int) or n_cutoffs < 2:
        raise ConfigError(f"n_cutoffs must be an int >= 2; got {n_cutoffs!r}.")
    s, h = parse_as_of(as_of), float(horizon_days)
    earliest = parse_as_of(first_data) + dt.timedelta(days=float(min_history_days))
    latest = s - dt.timedelta(days=h)
    notes: list[str] = []
    for step in _STEPS:
        grid = _grid(latest, earliest, step)
        if len(grid) >= _MIN_CUTOFFS or step == _STEPS[-1]:
            break
    if not grid:
        raise DataError(
            f"training as of {s:%Y-%m-%d} with a {h:g}-day horizon needs a cutoff c with "
            f"c + {h:g} days <= {s:%Y-%m-%d} and at least {min_history_days:g} days of history "
            f"before it (from {earliest:%Y-%m-%d}); the latest such cutoff would be "
            f"{latest:%Y-%m-%d}. Use a later date, a shorter horizon or more history."
        )
    if step != _STEPS[0]:
        notes.append(f"cutoffs every {step} days: 30 days apart gave fewer than {_MIN_CUTOFFS}")
    valid = grid[-1]
    purged = [c for c in grid if c + dt.timedelta(days=h) <= valid][-(n_cutoffs - 1) :]
    if len(purged) >= min(_MIN_PURGED, n_cutoffs - 1):
        return AsOfPlan(s, h, tuple(purged), valid, "time", step, tuple(notes))
    notes.append(
        f"too little history for a purged time split ({len(purged)} training window(s) end by "
        f"{valid:%Y-%m-%d}, {_MIN_PURGED} needed): validating on held-out customers at the "
        "latest cutoff"
    )
    return AsOfPlan(s, h, tuple(grid[-n_cutoffs:]), valid, "customers", step, tuple(notes))


def _grid(latest: dt.datetime, earliest: dt.datetime, step: int) -> list[dt.datetime]:
    """``latest``, ``latest - step``, ... down to ``earliest``, oldest first."""
    n = int((latest - earliest).total_seconds() // (step * 86400)) + 1 if latest >= earliest else 0
    return [latest - dt.timedelta(days=step * k) for k in range(n)][::-1]


@dataclasses.dataclass
class AsOfFit:
    """One target trained as of a date: the model, both baselines fitted on the same rows, and
    the validation metrics of all three (the rows the model was selected on)."""

    target: str
    plan: AsOfPlan
    model: Any  # PropensityModel, or the spec's estimator for a time-to-event target
    baselines: dict[str, Any]
    validation: dict[str, dict[str, float]]
    rows: dict[str, int]

    def scores(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """``model``, ``btyd`` and ``rfm`` scores of the feature rows ``frame``."""
        return {
            "model": self.model.predict_score(frame),
            **{k: b.predict(frame) for k, b in self.baselines.items()},
        }


@dataclasses.dataclass
class AsOfRun:
    """``train_as_of``'s result: one ``AsOfFit`` per target and the per-cutoff feature cache."""

    as_of: dt.datetime
    fits: dict[str, AsOfFit]
    cache: CutoffCache

    def features(self) -> pl.DataFrame:
        """The model inputs of every customer known at ``as_of`` (rows before it only)."""
        return self.cache.features(self.as_of)

    def score(self) -> pl.DataFrame:
        """``customer_id`` and ``score__<target>`` as of ``as_of`` for every target; for a
        time-to-event target its ``<target>__days``, ``__date``, interval and ``__status``
        columns instead (``segml.models.timing.next_order_columns``)."""
        frame = self.features()
        out = frame.select("customer_id")
        for t, f in self.fits.items():
            if target_registry.get(t).is_time_to_event:
                cols = next_order_columns(frame, f.model, as_of=self.as_of, name=t)
                out = out.with_columns(cols.drop("customer_id"))
            else:
                out = out.with_columns(pl.Series(f"score__{t}", f.model.predict_score(frame)))
        return out


def history_before(shop: ShopData, as_of: AsOf) -> ShopData:
    """``shop`` with only the orders, events and sign-ups strictly before ``as_of``."""
    cut = as_of_days(as_of)

    def before(lf: nw.LazyFrame[Any] | None, col: str) -> nw.LazyFrame[Any] | None:
        if lf is None or col not in lf.collect_schema().names():
            return lf
        return lf.filter(nw.col(col).is_null() | (nw.col(col) < cut))

    events = before(shop.events, "t")
    customers = before(shop.customers, "signup_t")
    return dataclasses.replace(
        shop,
        orders=shop.orders.filter(nw.col("t") < cut),
        events=events,
        customers=customers,
        _checked=set(),
    )


def target_specs(
    targets: Mapping[str, Any] | Sequence[str], *, default_horizon: float = 90
) -> dict[str, dict[str, Any]]:
    """``{"purchase": 90}``, ``{"lapse": {"horizon_days": "auto"}}`` or ``["purchase"]`` as
    ``name -> {"horizon_days": ..., "lookback_days": ...}``; names of registered targets."""
    items = targets.items() if isinstance(targets, Mapping) else ((t, {}) for t in targets)
    out: dict[str, dict[str, Any]] = {}
    for name, spec in items:
        target_registry.get(name, what="each of targets")
        spec = dict(spec) if isinstance(spec, Mapping) else {"horizon_days": spec}
        spec.setdefault("horizon_days", default_horizon)
        spec.setdefault("lookback_days", 365)
        out[name] = spec
    if not out:
        raise ConfigError(
            f"targets is empty; name at least one of {list(target_registry.names())}."
        )
    return out


def train_as_of(
    data: Any,
    *,
    as_of: AsOf,
    targets: Mapping[str, Any] | Sequence[str] = ("purchase",),
    n_cutoffs: int = 6,
    feature_params: Mapping[str, Any] | None = None,
    model_params: Mapping[str, Any] | None = None,
    seed: int = 0,
    config: DataSpec = None,
) -> AsOfRun:
    """Train every target as of ``as_of``: all label windows close by it (see the module
    docstring). ``targets``: names, or name -> horizon in days (``"auto"`` for lapse: the
    repeat-order gap quantile before ``as_of``) or ``{"horizon_days", "lookback_days"}``.
    ``model_params`` go to ``PropensityModel`` (default: boost from the BG/NBD score)."""
    shop = materialize(prepare(data, config=config))
    s = parse_as_of(as_of)
    shop.check_cutoff(s)
    specs = target_specs(targets)
    for name, spec in specs.items():
        if spec["horizon_days"] == "auto":
            spec["horizon_days"] = float(_auto_horizon(name, shop, s, spec))
    horizons = sorted({float(spec["horizon_days"]) for spec in specs.values()})
    builder = FeatureBuilder(**dict(feature_params or {})).fit(shop, as_of=s)
    cache = CutoffCache(shop, builder, horizons=horizons, seed=seed)
    first = _first_day(shop)
    fits = {}
    for target, spec in specs.items():
        plan = plan_as_of(
            as_of=s, horizon_days=spec["horizon_days"], first_data=first, n_cutoffs=n_cutoffs
        )
        fits[target] = _fit(
            cache,
            plan,
            target=target,
            lookback_days=spec["lookback_days"],
            params={"random_state": seed} | dict(model_params or {}),
        )
        fits[target].model.metadata_ = {
            "target": target, "horizon_days": plan.horizon_days, "as_of": f"{s:%Y-%m-%d}",
            "plan": plan.describe(), "btyd_horizons": horizons,
            "features": {**builder.feature_settings(), "categories": builder.categories_},
        }  # fmt: skip
    return AsOfRun(s, fits, cache)


def _auto_horizon(target: str, shop: ShopData, s: dt.datetime, spec: Mapping[str, Any]) -> int:
    found = target_registry.get(target)
    if found.auto_horizon is None:
        raise ConfigError(
            f"{target}: horizon_days 'auto' is not available for this target; "
            "give a number of days."
        )
    derive = target_registry.resolve(found.auto_horizon)
    return int(derive(shop, now=s, quantile=spec.get("auto_quantile", 0.8), backtest=False))


def _fit(
    cache: CutoffCache,
    plan: AsOfPlan,
    *,
    target: str,
    lookback_days: float,
    params: Mapping[str, Any],
) -> AsOfFit:
    train, valid = _rows(cache, plan, target=target, lookback_days=lookback_days)
    spec = target_registry.get(target)
    model = _model(target, plan.horizon_days, params)
    model.fit(train, train["label"], X_valid=valid, y_valid=valid["label"])
    y_train = train["label"].to_numpy()
    baselines = {
        name: make_baseline(name, target=target, horizon_days=plan.horizon_days).fit(train, y_train)
        for name in sorted(spec.baselines)  # by name: btyd, then rfm
    }
    y_valid = valid["label"].to_numpy()
    fit = AsOfFit(
        target, plan, model, baselines, {}, {"train": train.height, "valid": valid.height}
    )
    fit.validation = {k: metrics_for(target, y_valid, v) for k, v in fit.scores(valid).items()}
    return fit


def _model(target: str, horizon_days: float, params: Mapping[str, Any]) -> Any:
    """The target's unfitted model: its spec's ``estimator`` (time-to-event targets), else a
    ``PropensityModel`` boosting from the BG/NBD score unless ``params`` say otherwise."""
    spec = target_registry.get(target)
    if spec.estimator is not None:
        make = target_registry.resolve(spec.estimator)
        return make(target=target, horizon_days=horizon_days, params=params)
    kwargs = {"baseline": "btyd" if spec.btyd else None, "horizon_days": horizon_days}
    return PropensityModel(target=target, **(kwargs | dict(params)))


def _rows(
    cache: CutoffCache, plan: AsOfPlan, *, target: str, lookback_days: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    def rows(cutoffs: Sequence[dt.datetime]) -> pl.DataFrame:
        return cache.labelled(
            cutoffs, target=target, horizon_days=plan.horizon_days, lookback_days=lookback_days
        )

    if plan.split == "time":
        train, valid = rows(plan.train), rows([plan.valid])
    else:
        every = rows(plan.train)
        ids = every["customer_id"].unique().sort().to_numpy()
        held = ids[np.random.default_rng(0).random(len(ids)) < 0.2]
        out = every["customer_id"].is_in(held.tolist())
        train = every.filter(~out)
        valid = every.filter(out & (pl.col("cutoff") == plan.valid))
    for name, frame in (("training", train), ("validation", valid)):
        classifier = target_registry.get(target).is_classifier
        if frame.height == 0 or (classifier and frame["label"].n_unique() < 2):
            raise DataError(
                f"{target}: the {name} rows hold {frame.height} customers with labels "
                f"{sorted(set(frame['label'].to_list()))}; both classes are needed. "
                f"{plan.describe()}. Use a later date, a shorter horizon or more customers."
            )
    return train, valid


def _first_day(shop: ShopData) -> dt.datetime:
    first = collect(shop.orders.select(nw.col("t").min())).item()
    if first is None:
        raise DataError("the orders table is empty after cleaning; nothing to train on.")
    return dt.datetime(1970, 1, 1) + dt.timedelta(days=float(first))


def labels_at(
    shop: ShopData, as_of: AsOf, *, target: str, horizon_days: float, lookback_days: float = 365
) -> pl.DataFrame:
    """``customer_id``, ``label`` of the target's population at ``as_of`` (Polars)."""
    plan = label_plan(
        shop,
        as_of_days(as_of),
        target=target,
        horizon=float(horizon_days),
        lookback_days=float(lookback_days),
    )
    return collect(plan)
