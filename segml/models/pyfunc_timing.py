"""MLflow models-from-code entry point for a segml next-order model (``NextOrderModel``).

Like ``segml/models/pyfunc_model.py`` for the propensity models: MLflow stores this file as
text and runs it when the model loads; it reads LightGBM's model text and the JSON files logged
next to it (``NextOrderModel.load`` and the training run's BG/NBD fit ``btyd_fit.json``) and
unpickles nothing.

Input: one row per customer, as for the propensity pyfunc: a feature table joined with
``segml.rfm_summary`` columns (the ``btyd__*`` columns the model reads are computed with the
stored BG/NBD fit, ``segml.models.serving``), or ``segml.model_inputs`` output.

Output (``segml.models.timing.next_order_columns``): ``customer_id`` (when sent),
``<target>__days`` (the median days to the next order from the as-of date; missing when no
order is expected within the horizon), ``<target>__status`` (``expected`` /
``not_within_horizon`` / ``no_orders``) and ``<target>__horizon_days``; with
``params={"as_of": "YYYY-MM-DD"}`` (the date the rows describe) also the calendar dates
``<target>__date`` and ``__date_50_lo`` / ``_50_hi`` / ``_80_lo`` / ``_80_hi``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.tracking import python_model_base, set_code_model


class SegmlNextOrderModel(python_model_base()):  # type: ignore[misc]
    def load_context(self, context):  # type: ignore[no-untyped-def]
        from segml.models.timing import NextOrderModel

        self.model = NextOrderModel.load(context.artifacts["model"])
        self.btyd_fit = None
        if "btyd" in context.artifacts:
            import json
            from pathlib import Path

            self.btyd_fit = json.loads(Path(context.artifacts["btyd"]).read_text(encoding="utf-8"))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        import polars as pl

        from segml.models.serving import add_btyd_columns
        from segml.models.timing import next_order_columns

        frame = (
            model_input
            if isinstance(model_input, pl.DataFrame)
            else pl.from_pandas(pd.DataFrame(model_input))
        )
        model = self.model
        frame = add_btyd_columns(frame, needed=model.feature_names_in_, fit=self.btyd_fit)
        target = str(model.metadata_.get("target", "next_order"))
        as_of = str((params or {}).get("as_of") or "")
        added = "customer_id" not in frame.columns
        if added:
            frame = frame.with_row_index("customer_id")
        out = next_order_columns(frame, model, as_of=as_of or "1970-01-01", name=target)
        if not as_of:  # no date to count from: days and status only
            out = out.select("customer_id", pl.exclude("customer_id", r"^.*__date.*$"))
        out = out.with_columns(pl.col("customer_id").cast(pl.String))
        return (out.drop("customer_id") if added else out).to_pandas()


set_code_model(SegmlNextOrderModel())
