"""MLflow models-from-code entry point for a segml propensity model.

MLflow stores this file as text with the model and runs it when the model is loaded; it reads
the LightGBM model text and the JSON files logged next to it (``PropensityModel.load``, and the
training run's BG/NBD fit ``btyd_fit.json``) and unpickles nothing. Loading a model therefore
trusts this file and the ``segml`` code shipped with the model (MLflow ``code_paths``), not any
serialised Python object.

Input: one row per customer, either

- a feature table (``segml.build_features`` with the model's feature settings) joined on
  ``customer_id`` with ``segml.rfm_summary(data, observation_period_end=as_of - 1 day)``: the
  ``btyd__*`` columns the model reads are computed from those ``frequency``, ``recency``,
  ``T``, ``monetary_value`` columns with the BG/NBD fit stored with the model
  (``segml.models.serving``); or
- ``segml.model_inputs`` output, whose ``btyd__*`` columns are used as sent.

Raw order tables are not accepted. Feature columns the model reads are required by the
signature; extra columns are ignored. Output: ``customer_id`` (when sent), ``score__<target>``
and, with ``params={"reasons_top_k": k}`` for k > 0, ``reasons__<target>`` (JSON reason codes).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.tracking import python_model_base, set_code_model


class SegmlPropensityModel(python_model_base()):  # type: ignore[misc]
    def load_context(self, context):  # type: ignore[no-untyped-def]
        from segml.models.propensity import PropensityModel

        self.model = PropensityModel.load(context.artifacts["model"])
        self.btyd_fit = None  # versions logged before the fit was stored take model_inputs only
        if "btyd" in context.artifacts:
            import json
            from pathlib import Path

            self.btyd_fit = json.loads(Path(context.artifacts["btyd"]).read_text(encoding="utf-8"))

    # MLflow reads these hints: a pandas DataFrame input is passed through as it is, with no
    # schema derived from the hint and no "Add type hints" warning (a Polars frame also works)
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        import polars as pl

        from segml.models.explain import reason_codes
        from segml.models.serving import add_btyd_columns

        frame = (
            model_input
            if isinstance(model_input, pl.DataFrame)
            else pl.from_pandas(pd.DataFrame(model_input))
        )
        target, model = self.model.target, self.model
        needed = list(model.feature_names_in_)
        offset = getattr(model, "offset_", None)
        if offset:  # the BG/NBD column the model boosts from
            needed.append(offset["column"])
        frame = add_btyd_columns(frame, needed=needed, fit=getattr(self, "btyd_fit", None))
        out = pd.DataFrame({f"score__{target}": model.predict_score(frame)})
        if "customer_id" in frame.columns:
            out.insert(0, "customer_id", frame["customer_id"].cast(pl.String).to_numpy())
        top_k = int((params or {}).get("reasons_top_k", 0))
        if top_k > 0:
            out[f"reasons__{target}"] = reason_codes(self.model, frame, top_k=top_k)
        return out


set_code_model(SegmlPropensityModel())
