"""`segml score`: the scheduled job from raw data to scores, segments and audiences.

Reads the config (``scoring:``, ``segments``, the registry names) and hands every
engine-specific step to the backend chosen once for the shop (``segml.scores.backend``).

Steps: validate (already done by ``prepare``), features as of the cutoff, the registered
champion models, scores, deciles and reason codes, drift against the training reference, the
rule set, and one partition ``<out>/as_of=DATE/`` published atomically under a lock (a link to a
numbered version under ``<out>/.versions/``, ``segml.io.publish``; docs/reliability.md):

- ``scores.parquet``: one row per customer: ``customer_id``, every model input (features and
  BG/NBD columns), ``score__<target>``, ``decile__<target>``, ``reasons__<target>``, and the
  lifetime outputs ``clv__*`` and ``churn__tier`` (never model inputs; docs/outputs.md);
- ``drift.csv``: PSI and KS per column and model, with a status;
- ``segments/``: members, audiences per segment and channel, report (when a rule set is set);
- ``_manifest.json``: model names and versions, config hash, data span, rows in and out,
  data-quality counts, drift summary, ``point_in_time`` (models whose training data reaches
  past the cutoff, scored only with ``--allow-future-models``), each file's SHA-256 and
  ``content_sha256`` over all that (equal for identical reruns), and apart, outside the hash,
  ``execution``: timings, time written.

A drift beyond ``scoring.psi_fail`` publishes nothing and exits 5 (the drift report is kept in
``<out>/_rejected/as_of=DATE/``). A missing tracking store exits 4 and an unusable one (corrupt,
read-only) exits 7, both before any work; a store that fails after the partition was published
exits 8 (RunNotRecordedError: the partition is valid, the MLflow run is missing).
A model trained on data past the cutoff (a backfill that would use the future) is refused with
exit 9 before anything is scored (``segml.scores.job.check_point_in_time``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from segml.clusters.job import check_clusterer_point_in_time, load_clusterer, load_feature_params
from segml.config import Config
from segml.engine import parse_as_of
from segml.errors import DriftError, RunNotRecordedError, TrackingStoreError
from segml.exports import destination_columns, export_segments
from segml.io import (
    atomic_dir,
    exclusive_lock,
    fault_point,
    resolve_published,
    write_text,
)
from segml.jobs.common import tracking_uri
from segml.jobs.outputs import score_outputs
from segml.jobs.record import (
    drift_fails,
    drift_message,
    log_run,
    manifest_of,
    reject,
    write_manifest,
)
from segml.progress import step
from segml.report import REPORT_NAME, build_report
from segml.report.inputs import previous_run_dir
from segml.schema import ShopData
from segml.scores.backend import ScoringBackend, backend_for
from segml.scores.inputs import feature_groups
from segml.scores.job import Champions, check_point_in_time, load_champions, monitor
from segml.segments import columns_read
from segml.tracking import check_store

__all__ = ["BeforePublish", "score_and_report", "score_job"]


BeforePublish = Callable[[Path, Path | None], None]


def score_and_report(
    shop: ShopData,
    cfg: Config,
    *,
    as_of: Any,
    out: Path,
    wait: bool = False,
    report: bool | None = None,
    allow_future_models: bool = False,
) -> dict[str, Any]:
    """``segml score``: ``score_job``, with the partition's ``report.html`` built inside the
    new version before it is published: always (``report=True``, ``segml run``), never
    (False), or when the partition it replaces has one (None: a ``segml score`` over a
    partition ``segml run`` wrote keeps a current report)."""
    cutoff = parse_as_of(as_of)
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    hook = None if report is False else _report_hook(cfg, partition, always=bool(report))
    return score_job(
        shop,
        cfg,
        as_of=cutoff,
        out=out,
        wait=wait,
        before_publish=hook,
        allow_future_models=allow_future_models,
    )


def _report_hook(cfg: Config, partition: Path, *, always: bool) -> BeforePublish:
    def write(staging: Path, replaced: Path | None) -> None:
        if not always and (replaced is None or not (replaced / REPORT_NAME).is_file()):
            return
        with step("report"):
            text = build_report(
                staging,
                tracking_uri=tracking_uri(cfg),
                label=partition,
                previous=previous_run_dir(partition),
                registry_prefix=cfg.training.registry_prefix,
                cluster_model=cfg.clustering.registry_name,
            )
        write_text(text, staging / REPORT_NAME)

    return write


def score_job(
    shop: ShopData,
    cfg: Config,
    *,
    as_of: Any,
    out: Path,
    wait: bool = False,
    allow_future_models: bool = False,
    before_publish: BeforePublish | None = None,
) -> dict[str, Any]:
    """Run one scoring job; returns the manifest. Raises DriftError (exit 5) on drift and
    FutureModelError (exit 9) when a model's training data reaches past ``as_of``, unless
    ``allow_future_models`` (then recorded in the manifest under ``point_in_time``).

    ``before_publish(staging, replaced)``: called when every file is in the staging folder and
    before it is published, with the folder the partition publishes now (None: first run); it may
    add files the manifest does not hash (``score_and_report`` writes ``report.html`` there)."""
    cutoff = parse_as_of(as_of)
    partition = Path(out) / f"as_of={cutoff:%Y-%m-%d}"
    with exclusive_lock(partition, wait=wait):
        return _score_locked(
            shop, cfg, cutoff, partition, before_publish, allow_future=allow_future_models
        )


def _score_locked(
    shop: ShopData,
    cfg: Config,
    cutoff: dt.datetime,
    partition: Path,
    before_publish: BeforePublish | None,
    *,
    allow_future: bool,
) -> dict[str, Any]:
    """Both engines: on Spark the per-customer work stays on the executors (see
    ``segml.scores.spark`` and ``_segment``); the driver holds the drift sample and, with a
    rule set, the columns the rule set reads."""
    s, timings, started = cfg.scoring, {}, time.perf_counter()
    backend = backend_for(shop.kind)
    shop.check_cutoff(cutoff)
    uri = tracking_uri(cfg)
    check_store(uri, must_exist=True, write=True)  # the run is recorded after publishing
    with step("load models"):
        champions = _champions(cfg, uri)
    future = check_point_in_time(champions, as_of=cutoff, tracking_uri=uri, allow=allow_future)
    if s.clusters:
        future += check_clusterer_point_in_time(
            tracking_uri=uri, as_of=cutoff, allow=allow_future, name=cfg.clustering.registry_name
        )
    timings["load_models"] = _lap(started)
    reasons_all = s.reasons_for == "all" or (s.reasons_for == "segmented" and not cfg.segments)
    frame = backend.score(
        shop,
        champions.models,
        as_of=cutoff,
        chunk_size=s.chunk_size,
        reasons_top_k=s.reasons_top_k if reasons_all else 0,
        reasons_for=None if reasons_all else False,
    )
    if s.clusters:
        frame = _clusters(frame, shop, backend, champions, cfg, cutoff, uri)
    frame, outputs = score_outputs(
        frame, shop, backend=backend, champions=champions, cfg=cfg, as_of=cutoff
    )
    frame = persisted = backend.keep(frame)
    drift = monitor(
        _drift_rows(frame, backend, champions), champions, warn=s.psi_warn, fail=s.psi_fail
    )
    timings["score"] = _lap(started) - sum(timings.values())
    rows_out = backend.rows(frame)
    manifest = manifest_of(shop, cfg, cutoff, champions, rows_out, drift)
    manifest["tracking_uri"] = uri
    manifest["point_in_time"] = {"allow_future_models": allow_future, "future_models": future}
    if outputs is not None:
        manifest["outputs"] = outputs
    try:
        if s.fail_on_drift and drift_fails(drift, s.max_drifted_share):
            reject(partition, drift, manifest)
            raise DriftError(drift_message(drift, cfg, partition))
        _publish(
            frame,
            drift,
            champions,
            cfg,
            backend=backend,
            partition=partition,
            manifest=manifest,
            timings=timings,
            started=started,
            before_publish=before_publish,
            contacts=shop.contacts,
        )
    finally:
        backend.release(persisted)
    try:
        log_run(uri, cfg, manifest, drift, partition)
    except TrackingStoreError as err:
        raise RunNotRecordedError(
            f"published {partition} (complete and valid), but the run was not recorded in "
            f"the tracking store: {err}"
        ) from err
    return manifest


def _publish(
    frame: Any,
    drift: Any,
    champions: Champions,
    cfg: Config,
    *,
    backend: ScoringBackend,
    partition: Path,
    manifest: dict[str, Any],
    timings: dict[str, float],
    started: float,
    before_publish: BeforePublish | None,
    contacts: Any = None,
) -> None:
    """Write the partition's files into a staging folder and publish it (``atomic_dir``);
    ``contacts`` (the customers' contact details) go only to the export destinations."""
    live = resolve_published(partition)
    replaced = live if live.is_dir() else None
    cutoff = parse_as_of(manifest["as_of"])
    with atomic_dir(partition) as tmp:
        fault_point("score:before_write")
        if cfg.segments:
            with step("segments"):
                frame = _segment(
                    frame,
                    backend,
                    champions,
                    cfg,
                    tmp / "segments",
                    manifest,
                    as_of=cutoff,
                    contacts=contacts,
                )
            timings["segments"] = _lap(started) - sum(timings.values())
        backend.write_scores(frame, tmp / "scores.parquet")
        fault_point("score:mid_write")
        timings["write"] = _lap(started) - sum(timings.values())
        write_text(drift.to_csv(index=False), tmp / "drift.csv")
        write_manifest(manifest, tmp, timings)
        if before_publish is not None:
            before_publish(tmp, replaced)


def _champions(cfg: Config, uri: str) -> Champions:
    """The scoring config's models from the registry (both engines load them the same way)."""
    s = cfg.scoring
    return load_champions(
        tracking_uri=uri,
        prefix=cfg.training.registry_prefix,
        targets=s.targets,
        alias=s.alias,
        missing=s.missing_model,
    )


def _drift_rows(frame: Any, backend: ScoringBackend, champions: Champions) -> Any:
    """What the drift report reads: the rows of the profiled columns the backend gives (on
    Spark a sample; ``segml.scores.backend``)."""
    profiled = {c for p in champions.references.values() if p for c in p["columns"]}
    return backend.drift_rows(frame, profiled)


def _lap(started: float) -> float:
    return time.perf_counter() - started


def _segment(
    frame: Any,
    backend: ScoringBackend,
    champions: Champions,
    cfg: Config,
    out: Path,
    manifest: dict[str, Any],
    *,
    as_of: dt.datetime,
    contacts: Any = None,
) -> Any:
    """Apply the rule set once and write its run folder to ``cfg.exports``' destinations; with
    reasons_for=segmented, explain only the segmented customers (from the same segmentation).

    The backend hands over the table the rule set reads (on Spark only its columns,
    ``segml.segments.columns_read``), where the thresholds, reports and audience files are
    computed over all customers exactly as on the default engine; reason codes are computed by
    the backend (on Spark on the executors, docs/spark.md)."""
    rules = cfg.resolve(cfg.segments or "")
    carry = destination_columns(cfg.exports)

    def needed(schema: Any) -> list[str]:
        read = columns_read(rules, schema, as_of=as_of)
        return read + [c for c in carry if c in schema and c not in read]

    table = backend.driver_table(frame, needed)
    run = export_segments(
        table, rules=rules, out=out, as_of=as_of, destinations=cfg.exports, contacts=contacts
    )
    manifest["segments"] = {name: info["rows"] for name, info in run.manifest["files"].items()}
    s = cfg.scoring
    if s.reasons_for == "segmented" and s.reasons_top_k > 0:
        members = run.result.members
        chosen = members.filter(pl.col("segment") != run.result.rule_set.default_segment)
        ids = chosen["customer_id"].unique()
        frame = backend.explain(
            frame,
            champions.models,
            customer_ids=ids,
            top_k=s.reasons_top_k,
            chunk_size=s.chunk_size,
        )
    return frame


def _clusters(
    frame: Any,
    shop: ShopData,
    backend: ScoringBackend,
    champions: Champions,
    cfg: Config,
    cutoff: dt.datetime,
    uri: str,
) -> Any:
    """Join ``cluster__id``/``cluster__name`` from the registered clusterer, its inputs built
    with the feature settings stored with it (a clusterer registered before they were stored:
    the champion models' window settings), never from the config of the day."""
    name = cfg.clustering.registry_name
    clusterer = load_clusterer(tracking_uri=uri, name=name)
    groups = feature_groups(champions.models)
    models = groups[0][0]["features"] if groups else {}
    stored = load_feature_params(tracking_uri=uri, name=name)
    params = stored or {k: models[k] for k in _WINDOWS if k in models}
    return backend.assign_clusters(
        frame,
        shop,
        clusterer,
        as_of=cutoff,
        feature_params=params,
        frame_params=models,
        chunk_size=cfg.scoring.chunk_size,
    )


_WINDOWS = ("windows_days", "intent_window_days", "engagement_window_days")
