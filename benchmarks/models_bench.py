"""Propensity-model speed benchmark (issue 3); figures go into benchmarks/RESULTS.md.

    flock /tmp/segml-bench.lock env OMP_WAIT_POLICY=PASSIVE \\
        .venv/bin/python benchmarks/models_bench.py [--customers 1000000]

Data: the synthetic store (``make_shop``, 20,000 customers) gives real model inputs (features +
BG/NBD columns) and labels at every cutoff segml's split asks for; each cutoff's rows are
resampled to ``--customers`` rows with 5% multiplicative jitter on the numeric inputs (so every
value is distinct, the worst case for LightGBM's binning), giving frames with the real marginals
and label relationships at 1M-customer size.

What is timed is segml's own code path, on that data size:

1. training: ``segml.models.fit_target`` per target, exactly what ``segml train`` runs per
   target without tuning: the purged time split (``n_cutoffs=4``: 3 training cutoffs + the
   validation cutoff, i.e. 1M customers x 4 cutoffs), ``PropensityModel.fit`` (early stopping,
   calibration chosen on validation), both baselines fitted on the same rows, and the backtest
   on a 5th cutoff of 1M customers (model and baselines scored, all metrics computed);
2. scoring: ``score_customers`` on 1M customers with the three calibrated models, no reasons;
3. reason codes: ``score_customers`` with reason codes (top 3) for every one of the 1M
   customers, for all three models.

Baselines timed in the same process, on the same matrices: a plain ``lgb.LGBMClassifier`` /
``LGBMRegressor`` with segml's parameters and the same number of trees, no validation set
(training); ``Booster.predict`` (scoring); ``Booster.predict(pred_contrib=True)``, LightGBM's
TreeSHAP, on a 20,000-row sample, extrapolated to 1M (reason codes). Load average and this
process's CPU seconds are recorded per step: on a shared 2-core machine, CPU seconds / wall
seconds below 2 means other jobs took the cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np
import polars as pl

from segml.datasets import make_shop
from segml.features import FeatureBuilder
from segml.models import PropensityModel, fit_target, score_customers
from segml.models.dataset import CutoffCache, materialize
from segml.schema import prepare

NOW = "2025-01-01"
N_CUTOFFS = 4  # 3 training cutoffs + 1 validation cutoff per target
TARGETS = {"purchase": 30.0, "lapse": 56.0, "value": 90.0}
SAMPLE = 20_000  # rows for the pred_contrib baseline


def _log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Step:
    """Wall and CPU seconds plus the 1-minute load average at the end of a step."""

    def __init__(self, out: dict[str, Any], name: str) -> None:
        self.out, self.name = out, name

    def __enter__(self) -> Step:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.out[self.name] = {
            "wall_s": round(time.perf_counter() - self.wall, 1),
            "cpu_s": round(_cpu() - self.cpu, 1),
            "load1": round(os.getloadavg()[0], 1),
        }

    @property
    def seconds(self) -> float:
        return float(self.out[self.name]["wall_s"])


def enlarge(frame: pl.DataFrame, n: int, rng: np.random.Generator, tag: str) -> pl.DataFrame:
    """``n`` rows resampled from ``frame`` with 5% jitter on numeric inputs (not the label)."""
    big = frame[rng.integers(0, frame.height, n)]
    numeric = [
        c for c, d in big.schema.items()
        if d.is_numeric() and c != "label" and not c.startswith("baseline__")
    ]  # fmt: skip
    return big.with_columns(
        *(pl.col(c) * pl.Series(rng.lognormal(0.0, 0.05, n)) for c in numeric),
        (pl.lit(tag) + pl.int_range(n, dtype=pl.Int64).cast(pl.String)).alias("customer_id"),
    )


class EnlargedCache(CutoffCache):
    """segml's ``CutoffCache`` on the 20,000-customer store, each cutoff's labelled rows
    resampled to ``n`` customers once (generation is timed apart from training)."""

    n: int = 0
    rng: Any = None
    big: dict[tuple[str, dt.datetime], pl.DataFrame]

    def labelled(self, cutoffs: Any, *, target: str, horizon_days: float,
                 lookback_days: float) -> pl.DataFrame:  # fmt: skip
        parts = []
        for c in cutoffs:
            key = (target, c)
            if key not in self.big:
                small = super().labelled([c], target=target, horizon_days=horizon_days,
                                         lookback_days=lookback_days)  # fmt: skip
                self.big[key] = enlarge(small, self.n, self.rng, f"C{c:%y%m%d}-")
            parts.append(self.big[key])
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")


def make_cache(seed_customers: int, n: int) -> EnlargedCache:
    shop = make_shop(seed_customers, seed=0)
    data = materialize(prepare({"orders": shop.orders, "events": shop.events,
                                "customers": shop.customers}))  # fmt: skip
    builder = FeatureBuilder().fit(data, as_of=NOW)
    cache = EnlargedCache(data, builder, horizons=sorted(TARGETS.values()))
    cache.n, cache.rng, cache.big = n, np.random.default_rng(0), {}
    return cache


def train_all(
    cache: EnlargedCache, out: dict[str, Any], plain_targets: list[str]
) -> dict[str, PropensityModel]:
    models: dict[str, PropensityModel] = {}
    for target, h in TARGETS.items():
        with Step(out, f"generate_{target}"):  # warm the frames fit_target will ask for
            split = fit_target_split(cache, target, h)
        _log(f"generated {target} frames: {out[f'generate_{target}']}")
        with Step(out, f"train_{target}") as step:
            result = fit_target(cache, target=target, now=NOW, horizon_days=h,
                                n_cutoffs=N_CUTOFFS, model_params={"n_jobs": 2})  # fmt: skip
        model = models[target] = result.model
        out[f"train_{target}"] |= {
            "rows": result.rows, "trees": model.booster_.num_trees(),
            "best_iteration": model.best_iteration_, "beats_baselines": result.beats_baselines,
            "metrics": {k: {m: round(v, 4) for m, v in d.items()}
                        for k, d in result.metrics.items()},
        }  # fmt: skip
        _log(f"train {target} (fit_target): {step.seconds:.0f}s, {out[f'train_{target}']}")
        del result
        if target in plain_targets:
            out[f"plain_lgbm_{target}"] = plain_fit(cache, split, model)
            _log(f"plain LightGBM on the same matrix, {model.booster_.num_trees()} trees: "
                 f"{out[f'plain_lgbm_{target}']}")  # fmt: skip
        _drop_frames(cache, target, keep=("purchase", split.test))  # who is scored below
    return models


def _drop_frames(cache: EnlargedCache, target: str, *, keep: tuple[str, Any]) -> None:
    for key in [k for k in cache.big if k[0] == target and k != keep]:
        del cache.big[key]


def fit_target_split(cache: EnlargedCache, target: str, h: float) -> Any:
    from segml.models.training import _first_day, plan_split

    split = plan_split(now=NOW, horizon_days=h, n_cutoffs=N_CUTOFFS, first_data=_first_day(cache))
    for cutoffs in ([*split.train], [split.valid], [split.test]):
        cache.labelled(cutoffs, target=target, horizon_days=h, lookback_days=365)
    return split


def plain_fit(cache: EnlargedCache, split: Any, model: PropensityModel) -> dict[str, float]:
    """LightGBM alone: same training matrix (built outside the timer), parameters and number of
    trees as segml's model, no validation set, no calibration, no baselines."""
    train = pl.concat([cache.big[(model.target, c)] for c in split.train],
                      how="diagonal_relaxed")  # fmt: skip
    M, y = model._matrix(train), train["label"].to_numpy()
    params = model._lgbm_params() | {"n_estimators": model.booster_.num_trees()}
    cls = lgb.LGBMClassifier if model.is_classifier else lgb.LGBMRegressor
    timing: dict[str, Any] = {}
    with Step(timing, "fit"):
        cls(**params).fit(M, y, categorical_feature=model._categorical_index() or "auto")
    return dict(timing["fit"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed-customers", type=int, default=20_000)
    ap.add_argument("--out", default="benchmarks/out/models_bench.json")
    ap.add_argument(
        "--plain", default="purchase",
        help="comma-separated targets that also get the plain LightGBM training baseline",
    )  # fmt: skip
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"customers": args.customers, "uptime_start": _uptime()}
    with Step(out, "features_20k"):
        cache = make_cache(args.seed_customers, args.customers)
    models = train_all(cache, out, args.plain.split(","))
    out["train_all_wall_s"] = sum(out[f"train_{t}"]["wall_s"] for t in TARGETS)
    _log(f"train all three targets: {out['train_all_wall_s']:.0f}s (target 600s)")

    split = fit_target_split(cache, "purchase", TARGETS["purchase"])
    latest = cache.big[("purchase", split.test)].drop("label", "cutoff")
    with Step(out, "score") as step:
        score_customers(latest, models, reasons_for=False)
    _log(f"score {latest.height:,} x 3 models: {step.seconds:.1f}s (target 60s)")
    matrices = {t: m._matrix(latest) for t, m in models.items()}
    with Step(out, "plain_predict"):
        for t, m in models.items():
            m.booster_.predict(matrices[t], num_iteration=m.best_iteration_, raw_score=True)
    with Step(out, "reasons_all") as step:
        scored = score_customers(latest, models, reasons_for=None)
    _log(f"scores + reason codes for all {latest.height:,} x 3 models: {step.seconds:.0f}s "
         f"(target 600s)")  # fmt: skip
    out["reasons_example"] = json.loads(scored["reasons__purchase"][0])
    with Step(out, f"pred_contrib_{SAMPLE}"):
        for t, m in models.items():
            m.booster_.predict(matrices[t][:SAMPLE], num_iteration=m.best_iteration_,
                               pred_contrib=True)  # fmt: skip
    out["uptime_end"] = _uptime()
    print(json.dumps(out, indent=1, default=str))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    return out


def _uptime() -> str:
    return os.popen("uptime").read().strip()


if __name__ == "__main__":
    main()
