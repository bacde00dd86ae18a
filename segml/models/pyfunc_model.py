"""MLflow models-from-code entry point for a segml propensity model.

MLflow stores this file as text with the model and runs it when the model is loaded; it reads
the LightGBM model text and the JSON file logged next to it (``PropensityModel.load``) and
unpickles nothing. Loading a model therefore trusts this file and the installed ``segml`` and
``lightgbm`` packages, not any serialised Python object.

Input: one row per customer with the model's feature columns (missing columns are treated as
missing values). Output: ``score__<target>`` and, with ``params={"reasons_top_k": k}`` for
k > 0, ``reasons__<target>`` (JSON reason codes).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.tracking import python_model_base, set_code_model


class SegmlPropensityModel(python_model_base()):  # type: ignore[misc]
    def load_context(self, context):  # type: ignore[no-untyped-def]
        from segml.models.propensity import PropensityModel

        self.model = PropensityModel.load(context.artifacts["model"])

    # MLflow reads these hints: a pandas DataFrame input is passed through as it is, with no
    # schema derived from the hint and no "Add type hints" warning (a Polars frame also works)
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        import polars as pl

        from segml.models.explain import reason_codes

        frame = (
            model_input
            if isinstance(model_input, pl.DataFrame)
            else pl.from_pandas(pd.DataFrame(model_input))
        )
        target = self.model.target
        out = pd.DataFrame({f"score__{target}": self.model.predict(frame)})
        top_k = int((params or {}).get("reasons_top_k", 0))
        if top_k > 0:
            out[f"reasons__{target}"] = reason_codes(self.model, frame, top_k=top_k)
        return out


set_code_model(SegmlPropensityModel())
