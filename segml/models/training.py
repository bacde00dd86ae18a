"""Train one target end to end: time-based split, model, baselines, backtest metrics.

The split for training at ``now`` (horizon ``h``, cutoffs on a monthly or semi-monthly grid):

- backtest cutoff ``c_test``: the latest first-of-month with ``c_test + h <= now``;
- validation cutoff ``c_valid``: the latest grid cutoff with ``c_valid + h <= c_test``;
- training cutoffs: the ``n_cutoffs - 1`` latest grid cutoffs with ``c + h <= c_valid`` (purged:
  no training label window overlaps the validation window, so early stopping and calibration
  see honest out-of-time scores);
- with ``refit``, after early stopping and calibration the trees are refitted, with the chosen
  number of rounds, on every grid cutoff from the first training one to ``c_valid`` (the ones
  the purge left out included); the calibrator is kept.

So the model evaluated on the backtest never saw a label window ending after ``c_test`` (it is
trained "as of" ``c_test``), and the backtest scores are what that model would have said on
``c_test``. That same model is the one logged and registered: its reported metrics are its own.
Both baselines are fitted on the same rows as the final model and scored on the same backtest.
The model boosts from the BG/NBD score of its horizon (``PropensityModel(baseline="btyd")``) and
keeps the share of its trees that validates best, so it never validates worse than that baseline.

This split carves a backtest out of the history before ``now`` and so needs about three horizons
of it; to train on everything up to a date, use ``segml.models.asof.train_as_of`` instead.
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

from segml import progress, targets
from segml.engine import parse_as_of
from segml.errors import DataError
from segml.labels import cutoff_grid, label_window_end, monthly_cutoffs
from segml.models.baselines import make_baseline
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
    refit: tuple[dt.datetime, ...] = ()  # every cutoff from train[0] to valid

    def as_dict(self) -> dict[str, str]:
        return {
            "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in self.train),
            "refit_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in self.refit),
            "valid_cutoff": f"{self.valid:%Y-%m-%d}",
            "test_cutoff": f"{self.test:%Y-%m-%d}",
            "test_label_window_end": f"{label_window_end(self.test, self.horizon_days):%Y-%m-%d}",
        }


def plan_split(
    *,
    now: Any,
    horizon_days: float,
    n_cutoffs: int,
    first_data: Any | None = None,
    step: str = "monthly",
) -> Split:
    """The purged time-based split for training at ``now`` (see the module docstring); cutoffs
    before ``first_data`` + 28 days (too little history) are dropped. ``step``: "monthly" or
    "semimonthly" grid. Needs a validation and at least one training cutoff."""
    h = float(horizon_days)
    test = monthly_cutoffs(now=now, horizon_days=h, n_cutoffs=1)[0]
    extra = 2 * math.ceil(h / 14)  # room for the cutoffs the purge drops
    span = cutoff_grid(now=test, horizon_days=h, n_cutoffs=max(n_cutoffs, 2) + extra, step=step)
    earliest = parse_as_of(first_data) + dt.timedelta(days=28) if first_data else None
    usable = [c for c in span if earliest is None or c >= earliest]
    valid = usable[-1] if usable else None
    train = [c for c in usable if valid and label_window_end(c, h) <= valid][-(n_cutoffs - 1) :]
    if valid is None or not train:
        raise DataError(
            f"training at now={parse_as_of(now):%Y-%m-%d} with a {h:g}-day horizon needs a "
            f"validation cutoff with a complete label window before {test:%Y-%m-%d} and a "
            f"training cutoff whose window ends by it; found cutoffs "
            f"{[f'{c:%Y-%m-%d}' for c in usable]}: this split needs about three horizons of "
            "history (test, validation, training). Use a shorter horizon, "
            "training.cutoff_step: semimonthly or more history; or train without a carved-out "
            "backtest with segml.train_as_of(data, as_of=now, ...) (one horizon plus four "
            "weeks of history) and evaluate it later with segml.backtest / `segml backtest`."
        )
    refit = tuple(c for c in usable if c >= train[0])
    return Split(tuple(train), valid, test, h, refit)


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

    @property
    def who(self) -> tuple[str, ...]:
        """``model`` and the target's baselines, the ``score__<who>`` columns of test_frame."""
        return tuple(
            c.removeprefix("score__") for c in self.test_frame.columns if c.startswith("score__")
        )

    def tables(self) -> dict[str, pl.DataFrame]:
        y = self.test_frame["label"].to_numpy()
        classifier = targets.get(self.target).is_classifier
        out = {}
        for name in self.who:
            s = self.test_frame[f"score__{name}"].to_numpy()
            out[f"deciles_{name}"] = decile_table(y, s)
            if classifier:
                out[f"reliability_{name}"] = reliability_table(y, s)
        return out


def _frames(
    cache: CutoffCache, split: Split, *, target: str, lookback_days: float
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Train, validation and test rows, built one cutoff at a time (a progress step each)."""
    cutoffs = [*split.train, split.valid, split.test]
    parts = []
    with progress.step(f"{target} features", total=len(cutoffs), unit="cutoffs") as task:
        for cut in cutoffs:
            parts.append(
                cache.labelled(
                    [cut],
                    target=target,
                    horizon_days=split.horizon_days,
                    lookback_days=lookback_days,
                )
            )
            task.advance(note=f"cutoff {cut:%Y-%m-%d}")
    return pl.concat(parts[:-2], how="diagonal_relaxed"), parts[-2], parts[-1]


def fit_target(
    cache: CutoffCache,
    *,
    target: str,
    now: Any,
    horizon_days: float,
    lookback_days: float = 365,
    n_cutoffs: int = 6,
    step: str = "monthly",
    refit: bool = False,
    model_params: Mapping[str, Any] | None = None,
    tune: Callable[[pl.DataFrame, pl.DataFrame], dict[str, Any]] | None = None,
) -> TargetResult:
    """Split by time, fit the model and both baselines, score all three on the backtest.

    ``refit``: after early stopping and calibration, refit the trees on every cutoff up to the
    validation one (``Split.refit``), keeping the number of rounds and the calibrator."""
    spec = targets.get(target)
    started = time.perf_counter()
    split = plan_split(
        now=now,
        horizon_days=horizon_days,
        n_cutoffs=n_cutoffs,
        first_data=_first_day(cache),
        step=step,
    )
    train, valid, test = _frames(cache, split, target=target, lookback_days=lookback_days)
    # boost from the BG/NBD score of the same horizon unless model_params say otherwise
    params: dict[str, Any] = {
        "baseline": "btyd" if spec.btyd else None,
        "horizon_days": horizon_days,
    }
    params |= dict(model_params or {})
    tuned = tune(train, valid) if tune is not None else {}
    model = PropensityModel(target=target, **(params | tuned))
    with progress.step(f"{target} fit"):
        model.fit(train, train["label"], X_valid=valid, y_valid=valid["label"])
    fit_rows = pl.concat([train, valid], how="diagonal_relaxed")
    if refit:
        fit_rows = cache.labelled(
            split.refit, target=target, horizon_days=split.horizon_days, lookback_days=lookback_days
        )
        model.refit(fit_rows, fit_rows["label"])
    model.metadata_ = {
        "target": target,
        "horizon_days": horizon_days,
        "refit": refit,
        **split.as_dict(),
    }
    y_fit = fit_rows["label"].to_numpy()
    scores = {"model": model.predict(test)}
    for name in progress.track(spec.baselines, f"{target} baselines", unit="baselines"):
        baseline = make_baseline(name, target=target, horizon_days=horizon_days)
        scores[name] = baseline.fit(fit_rows, y_fit).predict(test)
    y = test["label"].to_numpy()
    metrics = {name: metrics_for(target, y, s) for name, s in scores.items()}
    verdict = all(beats(target, metrics["model"], metrics[b]) for b in spec.baselines)
    test_frame = test.select("customer_id", "label").with_columns(
        pl.Series(f"score__{k}", v) for k, v in scores.items()
    )
    rows = {
        "train": train.height,
        "valid": valid.height,
        "test": test.height,
        "final_fit": fit_rows.height,
    }
    return TargetResult(
        target,
        split,
        model,
        metrics,
        verdict,
        rows,
        test_frame,
        time.perf_counter() - started,
        test,
        tuned,
    )


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
        names = list(targets.get(r.target).metrics)
        head = (
            f"{r.target} (horizon {r.split.horizon_days:g}d, backtest cutoff "
            f"{r.split.test:%Y-%m-%d}, {r.rows['test']:,} customers, "
            f"trained on {r.rows.get('final_fit', r.rows['train'] + r.rows['valid']):,} "
            "rows)"
        )
        widths = [max(10, len(n)) + 2 for n in names]
        lines += [
            head,
            f"  {'':10}" + "".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True)),
        ]
        for who in r.who:
            vals = "".join(
                f"{r.metrics[who].get(n, np.nan):>{w}.4f}"
                for n, w in zip(names, widths, strict=True)
            )
            lines.append(f"  {who:10}{vals}")
        verdict = (
            "beats both baselines"
            if r.beats_baselines
            else (
                "DOES NOT beat both baselines on these point estimates (promotion needs it not "
                "to lose to either beyond the noise: see the note)"
            )
        )
        lines.append(f"  verdict: model {verdict}\n")
    return "\n".join(lines)
