"""MLflow models-from-code entry point for a segml clusterer.

MLflow stores this file as text with the model and runs it when the model is loaded. It reads
the JSON file logged next to it (``clusterer.json``: preprocessing parameters, centres or
mixture parameters, ids and names) with ``json.load`` and unpickles nothing. Loading a clusterer
therefore trusts this file and the ``segml`` code shipped with the model (MLflow
``code_paths``), not any serialised Python object.

Input: the feature table (``segml.build_features`` with the clusterer's feature settings), one
row per customer: the clusterer's feature columns are required by the signature,
``customer_id`` is optional, other columns are ignored. Raw order tables are not accepted.
Output: ``cluster__id`` (int; -1 = unclustered) and ``cluster__name`` (str), plus
``customer_id`` when given.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml.tracking import python_model_base, set_code_model


class SegmlClustererModel(python_model_base()):  # type: ignore[misc]
    def load_context(self, context):  # type: ignore[no-untyped-def]
        import json
        from pathlib import Path

        from segml.clusters.estimator import CustomerClusterer

        payload = json.loads(Path(context.artifacts["clusterer"]).read_text(encoding="utf-8"))
        self.model = CustomerClusterer.from_dict(payload)

    # MLflow reads these hints: a pandas DataFrame input is passed through as it is, with no
    # schema derived from the hint and no "Add type hints" warning (a Polars frame also works)
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.model.assign(model_input)


set_code_model(SegmlClustererModel())
