"""What a served propensity model adds to the table it is sent: the BG/NBD columns.

A segml model reads ``btyd__*`` columns (expected purchases, P(alive), P(purchase), expected
value) that ``segml.model_inputs`` computes from a BG/NBD + Gamma-Gamma fit on the whole
history before the as-of date. A request to a served model carries a few customers, too few to
fit those models on, so the model stores the fit its training run made (``btyd_fit`` at the end
of the last label window the run read, ``data_end``) and applies it to each customer's
``rfm_summary`` row (``frequency``, ``recency``, ``T``, ``monetary_value``, daily periods).

A request therefore sends either ``model_inputs`` output (the ``btyd__*`` columns are used as
sent: the scores of ``segml score`` for that date), or a feature table (``build_features``)
joined with ``rfm_summary(data, observation_period_end=as_of - 1 day)`` (the columns are
computed with the stored fit: the scores of ``segml score`` when as-of is the model's
``data_end``; for later dates ``segml score`` refits the BG/NBD parameters on the newer
history, the served model keeps the training run's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from segml.engine import AsOf
from segml.errors import DataError
from segml.models.dataset import btyd_columns, btyd_from_params

__all__ = ["BTYD_PREFIX", "SUMMARY_COLUMNS", "add_btyd_columns"]

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
BTYD_PREFIX = "btyd__"


def add_btyd_columns(
    frame: pl.DataFrame, *, needed: Sequence[str], fit: Mapping[str, Any] | None
) -> pl.DataFrame:
    """``frame`` with the ``btyd__*`` columns of ``needed`` that it lacks, computed from its
    ``rfm_summary`` columns with the stored ``fit`` (``segml.models.dataset.btyd_fit``).

    Rows without a purchase (``frequency`` missing) get missing values, as in ``model_inputs``.
    """
    missing = [c for c in needed if c.startswith(BTYD_PREFIX) and c not in frame.columns]
    if not missing:
        return frame
    if fit is None:
        raise DataError(
            f"the model input lacks the BG/NBD columns {missing} and this model version was "
            "logged without a BG/NBD fit (btyd_fit.json) to compute them from. Send the output "
            "of segml.model_inputs(data, as_of=..., feature_params=..., horizons=...), which "
            "has them, or retrain the model (segml train) to serve feature tables."
        )
    absent = [c for c in SUMMARY_COLUMNS if c not in frame.columns]
    if absent:
        raise DataError(
            f"the model input lacks the BG/NBD columns {missing} and the rfm_summary columns "
            f"{absent} to compute them from; found {frame.columns[:8]}"
            f"{' ...' if frame.width > 8 else ''} ({frame.height} rows). Join "
            "segml.rfm_summary(data, observation_period_end=AS_OF - 1 day) to the feature "
            "table on customer_id, or send segml.model_inputs(...) output instead."
        )
    return frame.with_columns(
        pl.Series(name, values, nan_to_null=True)
        for name, values in _columns(frame, fit).items()
        if name in missing
    )


def _columns(frame: pl.DataFrame, fit: Mapping[str, Any]) -> dict[str, np.ndarray]:
    summary = frame.select(pl.col(c).cast(pl.Float64, strict=False) for c in SUMMARY_COLUMNS)
    bought = summary["frequency"].is_not_null() & summary["frequency"].is_not_nan()
    rows = summary.filter(bought).to_pandas()
    horizons = [float(h) for h in fit["horizons"]]
    computed = btyd_columns(rows, btyd_from_params(fit["params"]), horizons)
    mask = bought.to_numpy()
    out = {}
    for name, values in computed.items():
        column = np.full(frame.height, np.nan)
        column[mask] = values
        out[name] = column
    return out


def request_example(
    rows: pl.DataFrame, model: Any, *, shop: Any, cutoff: AsOf
) -> tuple[Any, dict[str, str]]:
    """An input example for a served ``model`` from its training ``rows`` at ``cutoff``:
    ``customer_id``, the model's feature columns and the customers' ``rfm_summary`` columns
    (a pandas DataFrame, numbers as float); and the inputs a request may leave out (name ->
    MLflow type): ``customer_id``, the summary columns and the ``btyd__*`` columns."""
    import datetime as dt

    from segml.engine import parse_as_of
    from segml.features import rfm_summary

    end = parse_as_of(cutoff) - dt.timedelta(days=1)
    summary = _polars(rfm_summary(shop, observation_period_end=end, time_unit="D"))
    btyd = [c for c in model.feature_names_in_ if c.startswith(BTYD_PREFIX)]
    if getattr(model, "offset_", None) and model.offset_["column"] not in btyd:
        btyd.append(model.offset_["column"])
    features = [c for c in model.feature_names_in_ if c not in btyd]
    example = rows.select(pl.col("customer_id").cast(pl.String), *features).join(
        summary.select("customer_id", *SUMMARY_COLUMNS), on="customer_id", how="left"
    )
    numeric = [c for c, t in example.schema.items() if t.is_numeric()]
    example = example.with_columns(pl.col(numeric).cast(pl.Float64))
    optional = {"customer_id": "string"} | dict.fromkeys([*SUMMARY_COLUMNS, *btyd], "double")
    return example.to_pandas(), optional


def _polars(frame: Any) -> pl.DataFrame:
    from segml.engine import to_polars

    return to_polars(frame).with_columns(pl.col("customer_id").cast(pl.String))
