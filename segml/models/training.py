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
from segml.models.compare import Comparison, paired_bootstrap
from segml.models.dataset import CutoffCache
from segml.models.metrics import decile_table, metrics_for, reliability_table
from segml.models.palette import model_style
from segml.models.propensity import PropensityModel

__all__ = [
    "Split",
    "TargetResult",
    "beats_every_baseline",
    "compare_baselines",
    "fit_target",
    "plan_split",
    "verdict_line",
]


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
    model: Any  # PropensityModel, or the spec's estimator for a time-to-event target
    metrics: dict[str, dict[str, float]]  # "model" / "rfm" / "btyd" -> metric -> value
    beats_baselines: bool
    rows: dict[str, int]
    test_frame: pl.DataFrame  # customer_id, label, score__model, score__rfm, score__btyd
    seconds: float
    test_rows: pl.DataFrame  # the backtest rows with every model input
    tuned_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    # baseline -> key metric -> the model's paired-bootstrap comparison on the backtest
    versus: dict[str, dict[str, Comparison]] = dataclasses.field(default_factory=dict)

    @property
    def who(self) -> tuple[str, ...]:
        """``model`` and the target's baselines, the ``score__<who>`` columns of test_frame."""
        return tuple(
            c.removeprefix("score__") for c in self.test_frame.columns if c.startswith("score__")
        )

    def tables(self) -> dict[str, pl.DataFrame]:
        y = self.test_frame["label"].to_numpy()
        classifier = targets.get(self.target).is_classifier
        out: dict[str, pl.DataFrame] = {}
        if targets.get(self.target).is_time_to_event:  # a prediction matrix, no deciles
            return out
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
    if refit and spec.is_time_to_event:
        raise DataError(
            f"{target}: refit is not available for a time-to-event target (its hazard model "
            "has no refit step); got refit: true. Remove refit from "
            f"training.targets.{target}."
        )
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
    model = _model(spec, params | tuned)
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
    scores = {"model": model.predict_score(test)}
    for name in progress.track(spec.baselines, f"{target} baselines", unit="baselines"):
        baseline = make_baseline(name, target=target, horizon_days=horizon_days)
        scores[name] = baseline.fit(fit_rows, y_fit).predict(test)
    y = test["label"].to_numpy()
    metrics = {name: metrics_for(target, y, s) for name, s in scores.items()}
    versus = compare_baselines(y, scores, target=target)
    verdict = beats_every_baseline(versus)
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
        versus,
    )


def compare_baselines(
    y: Any,
    scores: Mapping[str, Any],
    *,
    target: str,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    max_rows: int = 20_000,
) -> dict[str, dict[str, Comparison]]:
    """The model (``scores["model"]``) against each other score on the target's key metrics,
    by a paired bootstrap over the rows (``segml.models.compare``): baseline -> metric ->
    comparison, positive = the model is better. Above ``max_rows`` rows on a seeded sample of
    them (wider intervals, never a win more)."""
    y = np.asarray(y, dtype=np.float64)
    keep = np.arange(len(y))
    if len(y) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_rows, replace=False))
    ours = np.asarray(scores["model"], dtype=np.float64)[keep]
    return {
        who: {
            metric: paired_bootstrap(
                y[keep],
                ours,
                np.asarray(s, dtype=np.float64)[keep],
                metric=metric,
                n_boot=n_boot,
                level=level,
                seed=seed,
            )
            for metric in targets.get(target).key_metrics
        }
        for who, s in scores.items()
        if who != "model"
    }


def beats_every_baseline(versus: Mapping[str, Mapping[str, Comparison]]) -> bool:
    """True when the model beats every baseline beyond the noise on the primary metric and
    loses to none beyond the noise on the secondary."""
    out = bool(versus)
    for pair in versus.values():
        primary, *rest = pair.values()
        out &= primary.verdict == "beats" and all(c.verdict != "loses" for c in rest)
    return out


def verdict_line(who: str, pair: Mapping[str, Comparison]) -> str:
    """'ties BG/NBD: roc_auc 0.7290 vs 0.7340, diff -0.0050 [-0.0120, +0.0030]; log_loss ...
    (ties)': the verdict on the primary metric, each metric with its interval."""
    name = model_style(who)[0].removesuffix(" baseline")
    primary, *rest = pair.values()
    parts = [_diff(primary)] + [f"{_diff(c)} ({c.verdict})" for c in rest]
    return f"{primary.verdict} {name}: " + "; ".join(parts)


def _diff(c: Comparison) -> str:
    return (
        f"{c.metric} {c.model:.4f} vs {c.other:.4f}, diff {c.diff:+.4f} "
        f"[{c.low:+.4f}, {c.high:+.4f}]"
    )


def _model(spec: targets.TargetSpec, params: Mapping[str, Any]) -> Any:
    """A ``PropensityModel``, or for a time-to-event target its spec's ``estimator``."""
    if spec.estimator is None:
        return PropensityModel(target=spec.name, **params)
    make = targets.resolve(spec.estimator)
    horizon = params.get("horizon_days", spec.horizon_days)
    return make(target=spec.name, horizon_days=horizon, params=params)


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
        lines += [f"  model {verdict_line(who, pair)}" for who, pair in r.versus.items()]
        if r.versus:
            lines.append(
                "  (model minus baseline, 95% paired-bootstrap interval over the backtest "
                "customers; beats/loses only when it excludes 0, else ties)\n"
            )
    return "\n".join(lines)
