"""Scoring on Spark: the default engine's scoring run, with customers never collected on the driver.

- Model inputs: the same feature code on Spark (``model_inputs`` returns a Spark DataFrame for a
  Spark shop); BG/NBD is fitted on a driver-side sample and its expectations computed per
  partition.
- Predictions: ``mapInPandas``. Each Python worker rebuilds the PropensityModels from their
  LightGBM model text and JSON (what ``PropensityModel.save`` writes), broadcast from the driver;
  no model is ever pickled. Batches are scored with the same ``decision_function``, calibrator
  and reason codes as ``segml.models.scoring.score_customers``.
- Deciles over all customers, exactly as ``segml.models.metrics.deciles``: rank = number of
  customers whose raw score is <= this one (ties share the top rank of the tie, like
  ``rankdata(method="max")``), decile = ``clip(ceil(rank / n * 10), 1, 10)``. The rank comes from
  a count per distinct raw score and a running sum over the distinct scores (one small sorted
  partition of two columns), joined back on the score.
- Clusters: the registered clusterer rebuilt from its JSON (``CustomerClusterer.from_dict``)
  in ``mapInPandas``.

``SparkBackend`` puts these behind the interface a scoring job uses
(``segml.scores.backend.ScoringBackend``); with ``segml.engine`` this is the only module that
imports pyspark.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from segml import targets as target_registry
from segml.engine import is_spark
from segml.errors import ConfigError, DataError
from segml.models.explain import reason_codes
from segml.models.propensity import PropensityModel, _apply_calibrator
from segml.models.scoring import model_inputs
from segml.schema import ShopData
from segml.scores.inputs import cluster_inputs, feature_groups

__all__ = [
    "SparkBackend",
    "assign_clusters",
    "explain_customers",
    "model_payloads",
    "sample_rows",
    "score_shop",
    "score_spark",
]

_RAW = "_raw__"
SAMPLE = 200_000  # rows of the Spark output the drift report is computed on
_WORKER_MODELS: dict[str, dict[str, PropensityModel]] = {}


def model_payloads(models: Mapping[str, PropensityModel]) -> dict[str, dict[str, str]]:
    """Each model as the two texts ``PropensityModel.save`` writes: model.txt and model.json."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="segml-models-") as tmp:
        for target, model in models.items():
            folder = model.save(Path(tmp) / target)
            out[target] = {n: (folder / n).read_text(encoding="utf-8") for n in _FILES}
    return out


_FILES = ("model.txt", "model.json")


def _load_models(key: str, payloads: Mapping[str, Mapping[str, str]]) -> dict[str, PropensityModel]:
    """Rebuild (once per Python worker) the models with ``PropensityModel.load``: text only."""
    if key not in _WORKER_MODELS:
        models = {}
        with tempfile.TemporaryDirectory(prefix="segml-models-") as tmp:
            for target, files in payloads.items():
                folder = Path(tmp) / target
                folder.mkdir()
                for name in _FILES:
                    (folder / name).write_text(files[name], encoding="utf-8")
                models[target] = PropensityModel.load(folder)
        _WORKER_MODELS[key] = models
    return _WORKER_MODELS[key]


def _ship(frame: Any, models: Mapping[str, PropensityModel]) -> tuple[str, Any]:
    """The models' texts broadcast to the executors, and the key ``_load_models`` caches them
    under in each Python worker."""
    payloads = model_payloads(models)
    key = hashlib.sha256(json.dumps(payloads, sort_keys=True).encode()).hexdigest()
    return key, _broadcast(frame, payloads)


def _broadcast(frame: Any, value: Any) -> Any:
    """A Spark broadcast of ``value`` (plain data), or the value itself without a SparkContext
    (Spark Connect ships it with the function)."""
    try:
        return frame.sparkSession.sparkContext.broadcast(value)
    except Exception:  # Spark Connect has no SparkContext
        return _Plain(value)


class _Plain:
    def __init__(self, value: Any) -> None:
        self.value = value


def score_spark(
    features: Any,
    models: Mapping[str, PropensityModel],
    *,
    reasons_top_k: int = 3,
    reasons: bool = True,
) -> Any:
    """``features`` (a Spark DataFrame) plus ``score__``, ``decile__`` and ``reasons__`` per
    target, computed on the executors; the same values as ``score_customers``."""
    if not is_spark(features):
        raise DataError(f"score_spark takes a Spark DataFrame; got {type(features).__name__}.")
    if "customer_id" not in features.columns:
        raise DataError(f"features need a customer_id column; found {features.columns[:6]}...")
    key, shared = _ship(features, models)
    targets, explain = list(models), reasons and reasons_top_k > 0
    new = []
    for t in targets:
        new += [f"`score__{t}` double", f"`{_RAW}{t}` double", f"`reasons__{t}` string"]

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        loaded = _load_models(key, shared.value)
        for batch in batches:
            chunk = pl.from_pandas(batch)
            for t in targets:
                raw = loaded[t].decision_function(chunk)
                batch[f"score__{t}"] = _apply_calibrator(loaded[t].calibrator_, raw)
                batch[f"{_RAW}{t}"] = raw
                codes = reason_codes(loaded[t], chunk, top_k=reasons_top_k) if explain else None
                batch[f"reasons__{t}"] = codes if codes is not None else [None] * len(batch)
            yield batch

    scored = features.mapInPandas(predict, _ddl(features, new)).persist()
    total = scored.count()
    for t in targets:
        scored = _with_decile(scored, f"{_RAW}{t}", f"decile__{t}", total)
    columns = list(features.columns)
    for t in targets:
        columns += [f"score__{t}", f"decile__{t}", f"reasons__{t}"]
    return scored.select(*[f"`{c}`" for c in columns])


def explain_customers(
    scored: Any, models: Mapping[str, PropensityModel], *, customer_ids: Any, top_k: int = 3
) -> Any:
    """``scored`` (a Spark DataFrame of model inputs and scores) with ``reasons__<target>``
    computed on the executors for the customers in ``customer_ids`` (a list, Series or array of
    ids, e.g. those a rule set selected) and null for everyone else: the reason codes
    ``score_customers(..., reasons_for=mask)`` gives on the default engine."""
    from pyspark.sql import functions as F

    key, shared = _ship(scored, models)
    targets = list(models)
    ids = pd.DataFrame({"customer_id": pd.Series(list(customer_ids), dtype=object).astype(str)})
    chosen = scored.sparkSession.createDataFrame(ids.drop_duplicates()).withColumn(
        "_explain", F.lit(True)
    )
    marked = scored.drop(*[f"reasons__{t}" for t in targets if f"reasons__{t}" in scored.columns])
    marked = marked.join(F.broadcast(chosen), on="customer_id", how="left")
    new = [f"`reasons__{t}` string" for t in targets]

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        loaded = _load_models(key, shared.value)
        for batch in batches:
            pick = batch.pop("_explain").fillna(False).to_numpy(dtype=bool)
            rows = pl.from_pandas(batch[pick]) if pick.any() else None
            for t in targets:
                codes = pd.Series([None] * len(batch), index=batch.index, dtype=object)
                if rows is not None:
                    codes[pick] = reason_codes(loaded[t], rows, top_k=top_k)
                batch[f"reasons__{t}"] = codes
            yield batch

    schema = _ddl(marked.drop("_explain"), new)
    out = marked.mapInPandas(explain, schema)
    return out.select(*[f"`{c}`" for c in scored.columns])


def _ddl(frame: Any, extra: list[str]) -> str:
    """The DDL schema of ``frame`` plus ``extra`` fields, for ``mapInPandas``."""
    fields = [f"`{f.name}` {f.dataType.simpleString()}" for f in frame.schema.fields]
    return ", ".join(fields + extra)


def _with_decile(frame: Any, raw: str, out: str, total: int) -> Any:
    """``out`` = clip(ceil(rank_max / n * 10), 1, 10), rank_max = #rows with raw <= this raw."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    running = Window.orderBy(raw).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    ranks = (
        frame.groupBy(raw)
        .count()
        .select(raw, F.sum("count").over(running).cast("double").alias("_rank"))
    )
    decile = F.ceil(F.col("_rank") / F.lit(float(max(total, 1))) * F.lit(10.0))
    decile = F.least(F.greatest(decile, F.lit(1)), F.lit(10)).cast("byte")
    return frame.join(ranks, on=raw, how="left").withColumn(out, decile).drop("_rank")


def score_shop(
    shop: ShopData,
    models: Mapping[str, PropensityModel],
    *,
    as_of: Any,
    reasons_top_k: int = 3,
    reasons: bool = True,
) -> Any:
    """``segml.scores.job.score_shop`` for a Spark shop: a Spark DataFrame, sorted by customer.

    Models trained with the same feature settings share one feature build.
    """
    frame = None
    for params, targets in feature_groups(models):
        inputs = model_inputs(
            shop, as_of=as_of, feature_params=params["features"], horizons=params["horizons"]
        )
        part = score_spark(
            inputs, {t: models[t] for t in targets}, reasons_top_k=reasons_top_k, reasons=reasons
        )
        if frame is None:
            frame = part
        else:
            fresh = [c for c in part.columns if c not in frame.columns]
            frame = frame.join(part.select("customer_id", *fresh), on="customer_id", how="full")
    if frame is None:
        raise DataError("no models to score with.")
    return frame.sort("customer_id")


def assign_clusters(
    frame: Any,
    shop: ShopData,
    clusterer: Any,
    *,
    as_of: Any,
    feature_params: Mapping[str, Any],
    frame_params: Mapping[str, Any] | None = None,
) -> Any:
    """Join ``cluster__id``/``cluster__name`` from ``clusterer`` (rebuilt per worker from its
    JSON), building the columns it needs with its own feature settings when missing
    (``segml.scores.inputs.cluster_inputs``)."""
    inputs, cols = cluster_inputs(
        frame,
        shop,
        clusterer,
        as_of=as_of,
        feature_params=feature_params,
        frame_params=frame_params,
    )
    payload = json.dumps(clusterer.to_dict(), sort_keys=True, default=str)
    shared = _broadcast(frame, payload)
    cls = type(clusterer)

    def assign(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = cls.from_dict(json.loads(shared.value))
        for batch in batches:
            out = model.assign(batch)
            yield out.assign(cluster__id=out["cluster__id"].astype("int32"))

    assigned = inputs.select(*[f"`{c}`" for c in cols]).mapInPandas(
        assign, "customer_id string, cluster__id int, cluster__name string"
    )
    return frame.join(assigned, on="customer_id", how="left")


def sample_rows(frame: Any, columns: list[str], *, max_rows: int, seed: int = 0) -> pl.DataFrame:
    """At most ``max_rows`` rows of ``columns`` on the driver, in customer order: every row when
    there are that few (so drift matches the default engine), else a seeded Spark sample."""
    n = frame.count()
    rows = frame.select(*[f"`{c}`" for c in ["customer_id", *columns]])
    if n > max_rows:
        rows = rows.sample(fraction=min(1.0, 1.1 * max_rows / n), seed=seed).limit(max_rows)
    return pl.DataFrame(pl.from_arrow(rows.sort("customer_id").toArrow()))


class SparkBackend:
    """A scoring run on Spark: per-customer work on the executors; the driver holds the drift
    sample and the columns a rule set reads (``segml.scores.backend`` lists the steps)."""

    name = "spark"

    def feature_table(self, table: Any) -> pl.DataFrame:
        return pl.DataFrame(pl.from_arrow(table.toArrow()))

    def score(
        self,
        shop: ShopData,
        models: Mapping[str, PropensityModel],
        *,
        as_of: Any,
        chunk_size: int = 250_000,
        reasons_top_k: int = 3,
        reasons_for: Any = None,
    ) -> Any:
        """``reasons_for`` is None (every customer) or False (none) on Spark. Time-to-event
        targets (``next_order``) are refused: their columns are computed on Polars only."""
        timed = [t for t in models if target_registry.get(t).is_time_to_event]
        if timed:
            raise ConfigError(
                f"scoring.targets lists the time-to-event target(s) {timed}, which the Spark "
                "scoring backend does not compute (their columns, e.g. next_order__date, come "
                "from segml.models.timing.next_order_columns on Polars); got a Spark shop with "
                f"targets {list(models)}. Leave {timed} out of scoring.targets for Spark, or "
                "score with the default engine (engine: polars in the config)."
            )
        if reasons_for is not None and reasons_for is not False:
            raise DataError(
                "on Spark, reasons_for must be None (every customer) or False (none); got a "
                f"{type(reasons_for).__name__}."
            )
        return score_shop(
            shop, models, as_of=as_of, reasons_top_k=reasons_top_k, reasons=reasons_for is None
        )

    def assign_clusters(
        self,
        frame: Any,
        shop: ShopData,
        clusterer: Any,
        *,
        as_of: Any,
        feature_params: Mapping[str, Any],
        frame_params: Mapping[str, Any] | None = None,
        chunk_size: int = 250_000,
    ) -> Any:
        fit, built = feature_params, frame_params
        return assign_clusters(
            frame, shop, clusterer, as_of=as_of, feature_params=fit, frame_params=built
        )

    def explain(
        self,
        frame: Any,
        models: Mapping[str, PropensityModel],
        *,
        customer_ids: pl.Series,
        top_k: int,
        chunk_size: int = 250_000,
    ) -> Any:
        return explain_customers(frame, models, customer_ids=customer_ids.to_list(), top_k=top_k)

    def drift_rows(self, frame: Any, columns: set[str]) -> pl.DataFrame:
        """At most ``SAMPLE`` rows of the profiled ``columns`` (every row when there are that
        few, so drift equals the default engine's)."""
        return sample_rows(frame, sorted(columns & set(frame.columns)), max_rows=SAMPLE)

    def rows(self, frame: Any) -> int:
        return int(frame.count())

    def keep(self, frame: Any) -> Any:
        return frame.persist()

    def release(self, frame: Any) -> None:
        frame.unpersist()

    def driver_table(self, frame: Any, pick: Any) -> pl.DataFrame:
        """Only the columns ``pick(schema)`` names, collected to the driver."""
        schema = pl.DataFrame(pl.from_arrow(frame.limit(0).toArrow())).schema
        needed = pick(schema)
        return pl.DataFrame(pl.from_arrow(frame.select(*[f"`{c}`" for c in needed]).toArrow()))

    def attach_columns(self, frame: Any, table: pl.DataFrame) -> Any:
        """``frame`` left-joined with ``table`` (driver-side columns, one row per customer),
        columns in the order of ``frame`` then ``table``."""
        arrow = table.to_arrow(compat_level=pl.CompatLevel.oldest())  # nulls stay nulls
        extra = frame.sparkSession.createDataFrame(arrow)
        joined = frame.join(extra, on="customer_id", how="left")
        return joined.select(*[f"`{c}`" for c in frame.columns + table.columns[1:]])

    def write_scores(self, frame: Any, path: Path) -> None:
        """A folder of part files in customer order."""
        frame.sort("customer_id").write.parquet(str(path))
