"""Calibration under seasonal shift (issue 12): how far off is the purchase model's level at S,
and which general recalibration fixes it?

    nice -n 10 .venv/bin/python benchmarks/calibration_shift.py --data online_retail \\
        [--dates 2011-06-01,...] [--horizon 90] [--out benchmarks/fair]
    nice -n 10 .venv/bin/python benchmarks/calibration_shift.py --data synthetic

Per scoring date S, under the fair protocol (``train_as_of`` on the rows before S, evaluation on
``[S, S + horizon)``), the shipped model is calibrated on its validation window, the latest
window that closes by S (``S - h``). Three levels are compared, each a shift of the calibrated
log-odds by one number estimated from data before S only:

- ``latest``: no shift (as shipped): the level of the latest closed window;
- ``long_run``: the mean, over the training and validation cutoffs, of the shift that makes the
  model's mean prediction match the observed rate at that cutoff (a year of windows averages
  the seasons);
- ``seasonal``: the shift at the cutoff one year before S (the same window last year), when the
  history before S covers it; otherwise no shift.

Reported per date: base rate, mean prediction (calibration-in-the-large), ECE, log loss, and the
paired-bootstrap difference of log loss and ECE against ``latest`` with its 95% interval.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import polars as pl
from scipy.optimize import brentq
from scipy.special import expit, logit

from segml.models.asof import history_before, labels_at, train_as_of
from segml.models.compare import paired_bootstrap
from segml.models.dataset import materialize
from segml.models.metrics import classification_metrics
from segml.schema import prepare

DATES = {
    "online_retail": "2011-06-01,2011-07-01,2011-08-01,2011-09-01,2011-09-10",
    "synthetic": "2024-03-01,2024-05-01,2024-07-01,2024-08-01,2024-09-01,2024-10-01",
}


def _shop(name: str) -> tuple[Any, dict[str, Any]]:
    if name == "synthetic":
        from segml.datasets import make_shop

        s = make_shop(5000, seed=0)
        tables = {"orders": s.orders, "events": s.events, "customers": s.customers}
        return materialize(prepare(tables)), {}
    from segml.config import load_config
    from segml.datasets import load_tables

    cfg = load_config("configs/online_retail.yaml")
    return materialize(prepare(load_tables(cfg), config=cfg)), cfg.features.builder_params()


def _shift_to(p: np.ndarray, rate: float) -> float:
    """The log-odds shift that makes the mean of ``p`` equal ``rate``."""
    z = logit(np.clip(p, 1e-6, 1 - 1e-6))
    return float(brentq(lambda d: expit(z + d).mean() - rate, -10, 10))


def _shift(p: np.ndarray, delta: float) -> np.ndarray:
    return np.asarray(expit(logit(np.clip(p, 1e-6, 1 - 1e-6)) + delta))


def _level_at(run: Any, fit: Any, cutoff: dt.datetime, h: float) -> float:
    rows = run.cache.labelled([cutoff], target="purchase", horizon_days=h, lookback_days=365)
    return _shift_to(fit.model.predict_score(rows), float(rows["label"].mean()))


def one_date(full: Any, date: str, *, h: float, features: dict[str, Any]) -> list[dict[str, Any]]:
    s = dt.datetime.fromisoformat(date)
    run = train_as_of(history_before(full, s), as_of=s, targets={"purchase": h},
                      feature_params=features, model_params={"n_jobs": 2})  # fmt: skip
    fit = run.fits["purchase"]
    cutoffs = [*fit.plan.train, fit.plan.valid]
    long_run = float(np.mean([_level_at(run, fit, c, h) for c in cutoffs]))
    last_year = s - dt.timedelta(days=365)
    first = full.orders.select("t").collect().to_native()["t"].min()
    seasonal = 0.0
    if (last_year - dt.datetime(1970, 1, 1)).days >= float(first) + 28:
        seasonal = _level_at(run, fit, last_year, h)
    labels = labels_at(full, s, target="purchase", horizon_days=h)
    rows = labels.join(run.features(), on="customer_id", how="left")
    y, p = rows["label"].to_numpy().astype(float), fit.model.predict_score(rows)
    out = []
    for name, delta in (("latest", 0.0), ("long_run", long_run), ("seasonal", seasonal)):
        q = _shift(p, delta)
        m = classification_metrics(y, q)
        row = {"date": date, "level": name, "shift": delta, "base_rate": m["base_rate"],
               "mean_predicted": m["mean_predicted"], "ece": m["ece"],
               "log_loss": m["log_loss"], "roc_auc": m["roc_auc"]}  # fmt: skip
        for metric in ("log_loss", "ece"):
            c = paired_bootstrap(y, q, p, metric=metric, n_boot=300)
            row |= {f"{metric}_gain": c.diff, f"{metric}_low": c.low, f"{metric}_high": c.high}
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=sorted(DATES), default="online_retail")
    ap.add_argument("--dates", default=None)
    ap.add_argument("--horizon", type=float, default=90.0)
    ap.add_argument("--out", default="benchmarks/fair")
    args = ap.parse_args()
    full, features = _shop(args.data)
    started, rows = time.perf_counter(), []
    for date in (args.dates or DATES[args.data]).split(","):
        rows += one_date(full, date, h=args.horizon, features=features)
        print(pl.DataFrame(rows[-3:]), flush=True)
    table = pl.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.write_csv(out / f"calibration_{args.data}.csv")
    print(f"{time.perf_counter() - started:.0f} s")
    with pl.Config(tbl_rows=100, tbl_cols=20, float_precision=4, tbl_width_chars=250):
        print(table)


if __name__ == "__main__":
    main()
