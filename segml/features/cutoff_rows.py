"""``FeatureBuilder`` as a scikit-learn transformer: a cutoff parameter, rows of samples,
``fit_transform`` and ``set_output``.

scikit-learn's splitters index ``X`` by row, and ``y`` must line up with it, so a builder in a
``Pipeline`` that ``cross_val_score`` or ``GridSearchCV`` can split needs one row of ``X`` per
sample. With ``source`` set (the shop's tables), ``X`` is a frame of ``customer_id`` and,
optionally, ``cutoff``: each row gets its customer's features as of its own cutoff, built from
``source`` strictly before it, so a ``TimeSeriesSplit`` over rows sorted by cutoff trains on the
early cutoffs and tests on the later ones. ``fit`` learns what must stay fixed (the top-K
categories) from history before the latest cutoff among its rows: never from the test rows'
later history.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw
import pandas as pd
import polars as pl
from sklearn.utils.validation import check_is_fitted

from segml import schema
from segml.errors import DataError

__all__ = ["RowsMixin"]

_OUTPUTS = ("default", "pandas", "polars")


def _rows(X: Any) -> pl.DataFrame:
    if isinstance(X, pd.DataFrame):
        X = pl.from_pandas(X)
    if not isinstance(X, pl.DataFrame) or "customer_id" not in X.columns:
        found = list(X.columns) if isinstance(X, pl.DataFrame) else type(X).__name__
        raise DataError(
            "a FeatureBuilder with `source` takes rows: a pandas or Polars frame with a "
            f"'customer_id' column and optionally 'cutoff'; found {found}. Pass one row per "
            "sample (the event tables go in `source`)."
        )
    return X


class RowsMixin:
    """The scikit-learn side of ``FeatureBuilder`` (rows, cutoff parameter, output type)."""

    as_of: Any
    source: Any

    def _cutoff(self, as_of: Any) -> Any:
        """The keyword, else the ``as_of`` parameter; never a default from the data."""
        cut = self.as_of if as_of is None else as_of
        if cut is None:
            raise DataError(
                "as_of is required: pass the cutoff to fit/transform (as_of='2024-06-01') or "
                "set the `as_of` parameter (FeatureBuilder(as_of='2024-06-01')). It never "
                "defaults to the latest timestamp in the data, which would leak the future."
            )
        return cut

    def feature_settings(self) -> dict[str, Any]:
        """``get_params()`` without ``as_of`` and ``source``: the parameters that decide the
        columns, which models store with their metadata and compare at scoring time."""
        params: dict[str, Any] = self.get_params()  # type: ignore[attr-defined]
        return {k: v for k, v in params.items() if k not in ("as_of", "source")}

    def _fit_input(self, data: Any, as_of: Any) -> tuple[Any, Any]:
        """The tables and the cutoff ``fit`` learns at: with ``source``, the latest cutoff of
        the rows ``data`` (unless a cutoff is given)."""
        if self.source is None:
            return data, self._cutoff(as_of)
        rows = _rows(data)
        if as_of is None and self.as_of is None and "cutoff" in rows.columns:
            return self.source, rows["cutoff"].max()
        return self.source, self._cutoff(as_of)

    def _transform_rows(self, data: Any, *, as_of: Any, config: Any) -> Any:
        check_is_fitted(self, "feature_names_out_")
        rows = _rows(data)
        keyed = rows.with_row_index("_row").with_columns(pl.col("customer_id").cast(pl.String))
        keep = ["_row", "customer_id", *(["cutoff"] if "cutoff" in rows.columns else [])]
        fixed = as_of is not None or self.as_of is not None or "cutoff" not in rows.columns
        cuts = [self._cutoff(as_of)] if fixed else rows["cutoff"].unique().sort().to_list()
        shop = schema.prepare(self.source, config=config)  # once, for every cutoff
        parts = []
        for cut in cuts:
            table = self.transform_table(shop, as_of=cut)  # type: ignore[attr-defined]
            if not isinstance(table, pl.DataFrame):
                raise DataError(
                    "a FeatureBuilder with `source` builds in memory (Polars, pandas, DuckDB "
                    f"tables); got a {type(table).__name__}. Use transform_table for Spark."
                )
            chosen = keyed if fixed else keyed.filter(pl.col("cutoff") == cut)
            parts.append(chosen.select(keep).join(table, on="customer_id", how="left"))
        out = pl.concat(parts, how="vertical").sort("_row").drop("_row")
        return self._output(out if isinstance(data, pl.DataFrame) else out.to_pandas())

    def fit_transform(
        self, data: Any, y: Any = None, *, as_of: Any = None, config: Any = None
    ) -> Any:
        """``fit`` then ``transform`` on the same data and cutoff."""
        fitted = self.fit(data, y, as_of=as_of, config=config)  # type: ignore[attr-defined]
        return fitted.transform(data, as_of=as_of, config=config)

    def set_output(self, *, transform: str | None = None) -> Any:
        """Output of ``transform``: "pandas", "polars", or "default" (the input's frame type:
        pandas for files). A Spark input stays a Spark DataFrame."""
        if transform is None:
            return self
        if transform not in _OUTPUTS:
            raise ValueError(
                f"set_output(transform=...) must be one of {list(_OUTPUTS)}; got {transform!r}."
            )
        self._sklearn_output_config = {"transform": transform}
        return self

    def _output(self, table: Any) -> Any:
        kind = getattr(self, "_sklearn_output_config", {}).get("transform", "default")
        if kind == "default" or not nw.dependencies.is_into_dataframe(table):
            return table
        frame = nw.from_native(table, eager_only=True)
        return frame.to_pandas() if kind == "pandas" else frame.to_polars()
