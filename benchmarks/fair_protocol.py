"""Fair-protocol backtest on a real transaction log (issue 12): does segml beat its baselines?

    nice -n 10 .venv/bin/python benchmarks/fair_protocol.py \\
        [--config configs/online_retail.yaml] [--dates 2011-06-01,...] [--horizon 90] \\
        [--targets purchase,value] [--variants segml,no_offset] [--out benchmarks/fair]

Protocol, per scoring date S (``segml.models.backtest.backtest``): only the rows before S are
given to segml (``history_before``: orders, events and sign-ups at or after S are dropped before
anything is fitted); every training label window closes by S; the customers known at S are
scored at S and evaluated on what they did in ``[S, S + horizon)``, read from the full log. The
BG/NBD column (P(purchase) from BG/NBD; BG/NBD x Gamma-Gamma revenue for value) and the RFM cell
table are fitted on the same rows and scored on the same customers. Verdicts: paired bootstrap
(``--n-boot`` resamples of the customers) per date, pooled over dates by averaging the draws.

Variants (``--variants``): ``segml`` is the package as shipped (boosting from the BG/NBD score);
``no_offset`` is the same model without it (``baseline=None``: the model before issue 12); both
use the config's feature settings and LightGBM's package defaults unless ``--lightgbm-from-config``.

Writes ``<out>/<variant>_table.csv`` (date x target x model x metric), ``<variant>_comparisons.csv``
(per date), ``<variant>_pooled.csv`` and ``<variant>.md`` (the tables in markdown).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import polars as pl

from segml.config import load_config
from segml.datasets import load_tables
from segml.models.backtest import BacktestResult, backtest
from segml.models.dataset import materialize
from segml.schema import prepare

DATES = "2011-06-01,2011-07-01,2011-08-01,2011-09-01,2011-09-10"
VARIANTS: dict[str, dict[str, Any]] = {"segml": {}, "no_offset": {"baseline": None}}


def _markdown(frame: pl.DataFrame) -> str:
    cols = frame.columns
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in frame.iter_rows():
        rows.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v)
                                      for v in r) + " |")  # fmt: skip
    return "\n".join(rows)


def _write(result: BacktestResult, out: Path, variant: str, header: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.table.write_csv(out / f"{variant}_table.csv")
    result.comparisons.write_csv(out / f"{variant}_comparisons.csv")
    result.pooled.write_csv(out / f"{variant}_pooled.csv")
    per_date = result.comparisons.select(
        "date", "target", "other", "metric", "model", "other_value", "diff", "low", "high",
        "verdict",
    )  # fmt: skip
    pooled = result.pooled.select(
        "target", "other", "metric", "dates", "model", "other_value", "diff", "low", "high",
        "verdict", "min_diff", "max_diff", "dates_beats", "dates_ties", "dates_loses",
    )  # fmt: skip
    valid = [c for c in result.plans.columns if c.startswith("valid_")]  # model + baselines
    plans = result.plans.select("date", "target", "customers", "tree_weight", *valid, "plan")
    means = (result.table.group_by("target", "model", "metric", maintain_order=True)
             .agg(pl.col("value").mean())
             .pivot(on="metric", index=["target", "model"]))  # fmt: skip
    text = "\n\n".join([header, "## Per date", _markdown(per_date), "## Pooled over dates",
                        _markdown(pooled), "## Every metric, mean over dates", _markdown(means),
                        "## Calibration per date", _markdown(_calibration(result)),
                        "## What each date trained on", _markdown(plans)])  # fmt: skip
    (out / f"{variant}.md").write_text(text + "\n", encoding="utf-8")


def _calibration(result: BacktestResult) -> pl.DataFrame:
    """Per date, target and model: the observed mean (purchase rate; revenue for value), the
    mean prediction, their difference (calibration-in-the-large, positive = over-predicts) and,
    for the classifiers, the ECE."""
    t = result.table.filter(
        pl.col("metric").is_in(("base_rate", "mean_actual", "mean_predicted", "ece"))
    )
    if t.is_empty():  # e.g. only time-to-event targets: no probabilities to calibrate
        return pl.DataFrame({"date": [], "target": [], "model": []})
    wide = t.pivot(on="metric", index=["date", "target", "model"], values="value")
    for col in ("base_rate", "mean_actual", "mean_predicted", "ece"):
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    observed = pl.coalesce("base_rate", "mean_actual").alias("observed")
    return (
        wide.with_columns(observed)
        .with_columns((pl.col("mean_predicted") - pl.col("observed")).alias("in_the_large"))
        .select("date", "target", "model", "observed", "mean_predicted", "in_the_large", "ece")
        .sort("target", "date", "model")
    )


def _printer(variant: str) -> Any:
    return lambda line: print(f"[{variant}] {line}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/online_retail.yaml")
    ap.add_argument("--dates", default=DATES)
    ap.add_argument("--horizon", type=float, default=90.0)
    ap.add_argument("--targets", default="purchase,value")
    ap.add_argument("--variants", default="segml,no_offset")
    ap.add_argument("--n-cutoffs", type=int, default=6)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--lightgbm-from-config", action="store_true")
    ap.add_argument("--out", default="benchmarks/fair")
    args = ap.parse_args()
    cfg = load_config(args.config)
    shop = materialize(prepare(load_tables(cfg), config=cfg))
    base = {"n_jobs": 2, **(cfg.training.lightgbm if args.lightgbm_from_config else {})}
    targets = {t: args.horizon for t in args.targets.split(",")}
    for variant in args.variants.split(","):
        started = time.perf_counter()
        result = backtest(shop, dates=args.dates.split(","), targets=targets,
                          n_cutoffs=args.n_cutoffs, feature_params=cfg.features.builder_params(),
                          model_params=base | VARIANTS[variant], n_boot=args.n_boot,
                          progress=_printer(variant))  # fmt: skip
        seconds = time.perf_counter() - started
        header = (f"# Fair-protocol backtest: {variant}\n\nData: {args.config}; dates "
                  f"{args.dates}; horizon {args.horizon:g} days; n_cutoffs {args.n_cutoffs}; "
                  f"{args.n_boot} bootstrap resamples; model params {base | VARIANTS[variant]}; "
                  f"{seconds:.0f} s.")  # fmt: skip
        _write(result, Path(args.out), variant, header)
        print(result.summary(), flush=True)


if __name__ == "__main__":
    main()
