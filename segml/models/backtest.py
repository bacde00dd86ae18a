"""Rolling-origin backtests under the fair protocol, with uncertainty.

At each scoring date S: keep only the rows before S, train every target as of S
(``segml.models.asof.train_as_of``: all label windows closed by S), score the customers known at
S, and evaluate on what they did in ``[S, S + horizon)`` next to segml's two baselines, fitted on
the same training rows: the BG/NBD column (``btyd``: P(purchase) from BG/NBD, or BG/NBD x
Gamma-Gamma revenue for value) and the RFM cell table (``rfm``).

Results are tidy tables (Polars):

- ``table``: one row per date x target x model x metric;
- ``comparisons``: per date, target, baseline and metric, the model's paired-bootstrap
  difference with its interval and a verdict: "beats" or "loses" only when the interval
  excludes zero, "ties" otherwise (``segml.models.compare``);
- ``pooled``: the same over all dates (mean difference, interval from the averaged bootstrap
  draws, the spread across dates and how many dates were won, tied, lost).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import narwhals.stable.v2 as nw
import polars as pl

from segml import targets as target_registry
from segml.config import DataSpec
from segml.engine import AsOf, collect, parse_as_of
from segml.errors import ConfigError, DataError
from segml.models.asof import history_before, labels_at, target_specs, train_as_of
from segml.models.compare import paired_bootstrap, pool
from segml.models.dataset import materialize
from segml.models.metrics import metrics_for
from segml.schema import prepare

__all__ = ["BacktestResult", "backtest"]

# a verdict is given on each target's TargetSpec.key_metrics, against each of its baselines


@dataclasses.dataclass
class BacktestResult:
    """Per date x target x model x metric values, the verdicts, and what each date trained on."""

    table: pl.DataFrame
    comparisons: pl.DataFrame
    pooled: pl.DataFrame
    plans: pl.DataFrame  # date, target, customers, tree weight, validation metrics, plan

    def summary(self) -> str:
        """A plain-text report: per date and pooled, model vs each baseline."""
        lines = []
        for row in self.pooled.iter_rows(named=True):
            lines.append(
                f"{row['target']:8} {row['metric']:9} vs {row['other']:4}: model "
                f"{row['model']:.4f} vs {row['other_value']:.4f}, diff {row['diff']:+.4f} "
                f"[{row['low']:+.4f}, {row['high']:+.4f}] -> {row['verdict']} "
                f"(dates: {row['dates_beats']} beats, {row['dates_ties']} ties, "
                f"{row['dates_loses']} loses)"
            )
        return "\n".join(lines)


def backtest(
    data: Any,
    *,
    dates: Sequence[AsOf],
    targets: Mapping[str, Any] | Sequence[str] = ("purchase",),
    n_cutoffs: int = 6,
    feature_params: Mapping[str, Any] | None = None,
    model_params: Mapping[str, Any] | None = None,
    n_boot: int = 300,
    seed: int = 0,
    config: DataSpec = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Train as of each of ``dates`` on the rows before it, evaluate on the horizon after it.

    ``targets`` as in ``train_as_of`` (default: purchase, 90 days). Every label window of the
    evaluation must lie inside the data: a date whose horizon runs past the last order is refused.
    ``progress`` receives one line per date (e.g. ``print``)."""
    if not dates:
        raise ConfigError("dates is empty; give at least one scoring date, e.g. ['2011-09-01'].")
    full = materialize(prepare(data, config=config))
    specs = target_specs(targets)
    days = sorted(parse_as_of(d) for d in dates)
    end = _data_end(full)
    for spec in specs.values():
        if spec["horizon_days"] != "auto":
            _check_window(days[-1], float(spec["horizon_days"]), end)
    table, comps, plans = [], [], []
    for date in days:
        past = history_before(full, date)
        run = train_as_of(
            past,
            as_of=date,
            targets=specs,
            n_cutoffs=n_cutoffs,
            feature_params=feature_params,
            model_params=model_params,
            seed=seed,
        )
        features = run.features()
        for target, fit in run.fits.items():
            _check_window(date, fit.plan.horizon_days, end)
            labels = labels_at(
                full,
                date,
                target=target,
                horizon_days=fit.plan.horizon_days,
                lookback_days=specs[target]["lookback_days"],
            )
            rows = labels.join(features, on="customer_id", how="left").with_columns(
                pl.lit(date).alias("cutoff")
            )
            y = rows["label"].to_numpy()
            scores = fit.scores(rows)
            for who, s in scores.items():
                table += [
                    {
                        "date": date.date(),
                        "target": target,
                        "model": who,
                        "metric": k,
                        "value": float(v),
                    }
                    for k, v in metrics_for(target, y, s).items()
                ]
            ts = target_registry.get(target)
            for other in sorted(ts.baselines):  # by name: btyd, then rfm
                for metric in ts.key_metrics:
                    c = paired_bootstrap(
                        y, scores["model"], scores[other], metric=metric, n_boot=n_boot, seed=seed
                    )
                    comps.append((date.date(), target, other, c))
            plans.append(_plan_row(date, target, fit, rows.height))
            if progress is not None:
                last = comps[-len(ts.baselines) * len(ts.key_metrics) :]
                progress(_progress_line(date, target, last))
    return BacktestResult(
        pl.DataFrame(table), _comparison_frame(comps), _pooled(comps), pl.DataFrame(plans)
    )


def _data_end(shop: Any) -> dt.datetime:
    """The day after the last order (the end of the evaluable data)."""
    last = collect(shop.orders.select(nw.col("t").max())).item()
    return dt.datetime(1970, 1, 1) + dt.timedelta(days=math.floor(float(last)) + 1)


def _check_window(date: dt.datetime, horizon: float, end: dt.datetime) -> None:
    if date + dt.timedelta(days=horizon) > end:
        raise DataError(
            f"the {horizon:g}-day label window after {date:%Y-%m-%d} ends "
            f"{date + dt.timedelta(days=horizon):%Y-%m-%d}, after the last order (the data "
            f"ends {end - dt.timedelta(days=1):%Y-%m-%d}): its labels would be incomplete. "
            f"Use dates up to {end - dt.timedelta(days=horizon):%Y-%m-%d} or a shorter horizon."
        )


def _plan_row(date: dt.datetime, target: str, fit: Any, customers: int) -> dict[str, Any]:
    """What one date trained on, and the validation ranking metric of the model and baselines
    (the rows the model chose its tree weight on)."""
    metric = target_registry.get(target).primary_metric
    valid = {f"valid_{who}": m[metric] for who, m in fit.validation.items()}
    return {
        "date": date.date(),
        "target": target,
        "customers": customers,
        "validation_split": fit.plan.split,
        "tree_weight": fit.model.tree_weight_,
        "valid_metric": metric,
        **valid,
        "plan": fit.plan.describe(),
    }


def _progress_line(date: dt.datetime, target: str, comps: Sequence[Any]) -> str:
    parts = [
        f"{c.metric} vs {other}: {c.model:.4f} vs {c.other:.4f} ({c.verdict})"
        for _, _, other, c in comps
    ]
    return f"{date:%Y-%m-%d} {target}: " + "; ".join(parts)


def _comparison_frame(comps: Sequence[tuple[Any, str, str, Any]]) -> pl.DataFrame:
    rows = []
    for date, target, other, c in comps:
        d = c.as_dict()
        rows.append(
            {
                "date": date,
                "target": target,
                "other": other,
                "metric": d["metric"],
                "model": d["model"],
                "other_value": d["other"],
                "diff": d["diff"],
                "low": d["low"],
                "high": d["high"],
                "verdict": d["verdict"],
                "customers": d["rows"],
            }
        )
    return pl.DataFrame(rows)


def _pooled(comps: Sequence[tuple[Any, str, str, Any]]) -> pl.DataFrame:
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for _, target, other, c in comps:
        groups.setdefault((target, other, c.metric), []).append(c)
    rows = []
    for (target, other, _), cs in groups.items():
        p = pool(cs)
        other_value = p.pop("other")
        rows.append({"target": target, "other": other, **p, "other_value": other_value})
    return pl.DataFrame(rows)
