"""Propensity-model speed benchmark (issue 3); run once, figures go into docs/models.md.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/models_bench.py [--customers 1000000]

Data: the synthetic store (``make_shop``, 20,000 customers) gives real model inputs (features +
BG/NBD columns) and labels for each target at 4 monthly cutoffs; each cutoff's rows are
resampled to ``--customers`` rows with 5% multiplicative jitter on the numeric inputs, so the
frames have the real marginals and label relationships at 1M-customer size.

Measured, on 2 LightGBM threads:

1. training all three targets, no tuning: 3 cutoffs train + 1 validation cutoff (early
   stopping, calibration chosen on validation) = 1M customers x 4 cutoffs per target;
2. scoring 1M customers with the three calibrated models (scores + deciles, no reasons);
3. reason codes (exact TreeSHAP top-3) for 1M customers: for everyone, and for the customers a
   rule set selects (here: top three deciles of any score, the usual campaign audience).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import polars as pl

from segml.datasets import make_shop
from segml.features import FeatureBuilder
from segml.models import PropensityModel, score_customers
from segml.models.dataset import CutoffCache, materialize
from segml.schema import prepare

CUTOFFS = ("2024-06-01", "2024-07-01", "2024-08-01", "2024-09-01")  # last one validates
TARGETS = {"purchase": 30.0, "lapse": 56.0, "value": 90.0}


def _log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


def base_frames(seed_customers: int) -> dict[str, list[pl.DataFrame]]:
    """Per target, one labelled frame per cutoff from the synthetic store."""
    shop = make_shop(seed_customers, seed=0)
    data = materialize(prepare({"orders": shop.orders, "events": shop.events,
                                "customers": shop.customers}))  # fmt: skip
    builder = FeatureBuilder().fit(data, as_of=CUTOFFS[0])
    cache = CutoffCache(data, builder, horizons=sorted(TARGETS.values()))
    return {
        t: [cache.labelled([c], target=t, horizon_days=h, lookback_days=365) for c in CUTOFFS]
        for t, h in TARGETS.items()
    }


def enlarge(frame: pl.DataFrame, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """``n`` rows resampled from ``frame`` with 5% jitter on numeric inputs (not the label)."""
    idx = rng.integers(0, frame.height, n)
    big = frame[idx]
    numeric = [
        c for c, d in big.schema.items()
        if d.is_numeric() and c != "label" and not c.startswith("baseline__")
    ]  # fmt: skip
    jitter = rng.lognormal(0.0, 0.05, size=(n, len(numeric)))
    return big.with_columns(
        (pl.col(c) * pl.Series(jitter[:, i])).alias(c) for i, c in enumerate(numeric)
    ).with_columns(pl.Series("customer_id", [f"B{i:07d}" for i in range(n)]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed-customers", type=int, default=20_000)
    ap.add_argument(
        "--reasons-all", action="store_true",
        help="also compute reason codes for every customer (slow by design)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    frames = base_frames(args.seed_customers)
    rng = np.random.default_rng(0)
    big = {t: [enlarge(f, args.customers, rng) for f in fs] for t, fs in frames.items()}
    out["generate_s"] = time.perf_counter() - t0
    _log(
        f"generated {len(CUTOFFS)} x {args.customers:,} rows per target in {out['generate_s']:.0f}s"
    )

    models: dict[str, PropensityModel] = {}
    t_all = time.perf_counter()
    for target, fs in big.items():
        t1 = time.perf_counter()
        train = pl.concat(fs[:-1], how="diagonal_relaxed")
        valid = fs[-1]
        model = PropensityModel(target=target, n_jobs=2)
        models[target] = model.fit(train, train["label"], X_valid=valid, y_valid=valid["label"])
        out[f"train_{target}_s"] = time.perf_counter() - t1
        out[f"trees_{target}"] = model.best_iteration_
        rows = train.height + valid.height
        _log(f"train {target}: {rows:,} rows, {model.best_iteration_} trees, "
             f"{out[f'train_{target}_s']:.0f}s")  # fmt: skip
    out["train_all_s"] = time.perf_counter() - t_all
    _log(f"train all three targets: {out['train_all_s']:.0f}s (target 600s)")

    latest = big["purchase"][-1].drop("label", "cutoff")
    t2 = time.perf_counter()
    scores = score_customers(latest, models, reasons_for=False)
    out["score_s"] = time.perf_counter() - t2
    _log(f"score {latest.height:,} customers x 3 models: {out['score_s']:.1f}s (target 60s)")

    # The rule set's audience: top three deciles of any score (what a campaign would target).
    selected = (
        scores.select(pl.any_horizontal(pl.col(f"decile__{t}") >= 8 for t in TARGETS))
        .to_series()
        .to_numpy()
    )
    t3 = time.perf_counter()
    score_customers(latest, models, reasons_for=selected)
    out["reasons_selected_s"] = time.perf_counter() - t3
    out["reasons_selected_rows"] = int(selected.sum())
    _log(f"score + reason codes for the {selected.sum():,} selected customers x 3 models: "
         f"{out['reasons_selected_s']:.0f}s")  # fmt: skip
    if args.reasons_all:
        t4 = time.perf_counter()
        score_customers(latest, models, reasons_for=None)
        out["reasons_all_s"] = time.perf_counter() - t4
        _log(f"score + reason codes for all {latest.height:,} customers x 3 models: "
             f"{out['reasons_all_s']:.0f}s (target 600s)")  # fmt: skip
    print(out)
    return out


if __name__ == "__main__":
    main()
