"""The scoring job's lifetime-outputs step: ``scoring.outputs`` unpacked into
``segml.scores.outputs.lifetime_outputs`` (docs/outputs.md).

The columns are computed on the driver from the scored table's ``customer_id`` and score
columns (one row per customer, a few numbers each) and joined back by the backend, so both
engines give the same values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from segml.config import Config
from segml.schema import ShopData
from segml.scores.backend import ScoringBackend
from segml.scores.job import Champions
from segml.scores.outputs import lifetime_outputs, output_inputs

__all__ = ["score_outputs"]


def score_outputs(
    frame: Any,
    shop: ShopData,
    *,
    backend: ScoringBackend,
    champions: Champions,
    cfg: Config,
    as_of: dt.datetime,
) -> tuple[Any, dict[str, Any] | None]:
    """``frame`` with the ``clv__*`` and ``churn__tier`` columns, and the manifest's
    ``outputs`` entry; unchanged and None when ``scoring.outputs.enabled`` is false."""
    o = cfg.scoring.outputs
    if not o.enabled:
        return frame, None
    value = champions.models.get("value")
    horizon = value.metadata_.get("horizon_days") if value is not None else None
    table, summary = lifetime_outputs(
        backend.driver_table(frame, output_inputs),
        shop,
        as_of=as_of,
        value_horizon_days=float(horizon) if horizon else None,
        purchase_horizons_days=o.purchase_horizons_days,
        clv_months=o.clv_months,
        annual_discount_rate=o.annual_discount_rate,
        medium_from=o.churn_tiers.medium_from,
        high_from=o.churn_tiers.high_from,
        p_alive_min_iqr=o.p_alive_min_iqr,
    )
    return backend.attach_columns(frame, table), summary
