"""The clustering job: fit, match ids to last month's model, profile, explain, log, register.

``cluster_customers`` takes a feature table and plain keyword arguments (the jobs layer,
``segml.jobs.cluster``, unpacks the config's ``clustering:`` section into them). With a
tracking URI it logs the run to MLflow (the feature settings, the k-selection table and plot,
profiles, explanations, transitions, metrics), logs the clusterer as a models-from-code pyfunc
whose only artifact is a JSON file, registers it and points the ``champion`` alias at it, so
scoring jobs assign new customers with the same model and build its inputs with the same
settings (``load_clusterer``, ``load_feature_params``). The warnings of ``segml.clusters.quality``
(weak structure, k at the edge of the range) become notes the CLI prints and are logged as
``clusters/quality.json``, which the report shows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segml import tracking
from segml.clusters.estimator import CustomerClusterer
from segml.clusters.explain import explain_segments
from segml.clusters.identity import transition_table
from segml.clusters.plots import plot_explanations, plot_k_selection
from segml.clusters.preprocess import ID_COLUMN, as_pandas
from segml.errors import DataError, FutureModelError
from segml.io import write_json
from segml.models.environment import segml_source, serving_requirements

__all__ = [
    "ALIAS",
    "FEATURES_ARTIFACT",
    "ClusteringResult",
    "check_clusterer_point_in_time",
    "cluster_customers",
    "load_clusterer",
    "load_feature_params",
    "summary_metrics",
]

ALIAS = "champion"
FEATURES_ARTIFACT = "clusters/features.json"  # the FeatureBuilder settings the features came from
_CODE = Path(__file__).with_name("pyfunc_model.py")


@dataclass
class ClusteringResult:
    model: CustomerClusterer
    assignments: pd.DataFrame
    explanations: pd.DataFrame | None = None
    transitions: pd.DataFrame | None = None
    previous_version: str | None = None
    model_ref: Any = None
    notes: list[str] = field(default_factory=list)


def load_clusterer(*, tracking_uri: str, name: str, alias: str = ALIAS) -> CustomerClusterer:
    """The registered clusterer carrying ``alias`` (raises ModelNotFoundError when none)."""
    loaded, _ = tracking.load_pyfunc(tracking_uri=tracking_uri, name=name, alias=alias)
    return loaded.unwrap_python_model().model  # type: ignore[no-any-return]


def check_clusterer_point_in_time(
    *, tracking_uri: str, name: str, as_of: Any, alias: str = ALIAS, allow: bool = False
) -> list[dict[str, str]]:
    """The backfill guard for the registered clusterer (as ``segml.scores.job.
    check_point_in_time`` is for the propensity models): it is refused when the features it was
    fitted on were built as of a date after ``as_of`` (the run's ``as_of`` tag; features read
    only data before it), or, with no such tag, when it was registered after ``as_of``.

    Raises FutureModelError (exit 9) unless ``allow``; returns the offending model as a
    one-item list (the manifest's ``point_in_time.future_models`` entries) or an empty list.
    No registered clusterer: an empty list (loading it reports that)."""
    from segml.engine import parse_as_of

    cut = parse_as_of(as_of)
    ref = tracking.find_model(tracking_uri=tracking_uri, name=name, alias=alias)
    if ref is None:
        return []
    record = tracking.run_record(tracking_uri=tracking_uri, run_id=ref.run_id) or {}
    fitted = (record.get("tags") or {}).get("as_of")
    if fitted and fitted != "None":  # the job tags as_of=None as the string "None"
        end, basis = parse_as_of(fitted), "features built as of"
    else:
        end = tracking.version_details(
            tracking_uri=tracking_uri, name=ref.name, version=ref.version
        ).created
        basis = "no feature cutoff recorded; registered"
    if end <= cut:
        return []
    found = [
        {
            "target": "clusters",
            "name": ref.name,
            "version": ref.version,
            "data_end": f"{end:%Y-%m-%dT%H:%M:%S}",
            "basis": basis,
        }
    ]
    if not allow:
        raise FutureModelError(
            f"refusing to assign clusters as of {cut:%Y-%m-%d} with {ref.name} version "
            f"{ref.version} ({basis} {end:%Y-%m-%d}), after the as-of {cut:%Y-%m-%d}: a "
            "backfill with it would use the future. Fit a clusterer as of that date (segml "
            "cluster --as-of DATE) and point the champion alias at it, or pass "
            "--allow-future-models to score anyway (recorded in the manifest)."
        )
    return found


def load_feature_params(
    *, tracking_uri: str, name: str, alias: str = ALIAS
) -> dict[str, Any] | None:
    """The feature settings the registered clusterer's features were built with
    (``FeatureBuilder`` parameters and its ``categories``), or None for a clusterer registered
    before they were stored with it."""
    ref = tracking.find_model(tracking_uri=tracking_uri, name=name, alias=alias)
    if ref is None:
        return None
    found = tracking.load_run_json(
        tracking_uri=tracking_uri, run_id=ref.run_id, path=FEATURES_ARTIFACT
    )
    return dict(found) if isinstance(found, dict) else None


def cluster_customers(
    features: Any,
    *,
    params: dict[str, Any] | None = None,
    explain: bool = True,
    tracking_uri: str | None = None,
    experiment: str = "segml-clusters",
    registry_name: str = "segml-clusters",
    as_of: str | None = None,
    feature_params: Mapping[str, Any] | None = None,
) -> ClusteringResult:
    """Fit a CustomerClusterer on ``features``; log and register it when ``tracking_uri``.

    ``feature_params``: the settings ``features`` were built with (``FeatureBuilder``
    parameters and ``categories``), logged with the clusterer (``FEATURES_ARTIFACT``) so that
    scoring builds its inputs the same way whatever the config says then."""
    frame = as_pandas(features)
    previous, previous_version, notes = _previous(tracking_uri, registry_name)
    model = CustomerClusterer(**(params or {}))
    try:
        model.fit(frame, previous=previous)
    except DataError as err:
        if previous is None or "fitted on columns" not in str(err):
            raise
        notes.append(f"ids not matched to version {previous_version}: {err}")
        previous = None
        model.fit(frame)
    notes.extend(model.quality_["warnings"])  # weak structure, k at the edge of k_range
    result = ClusteringResult(
        model, model.assign(frame), previous_version=previous_version, notes=notes
    )
    if previous is not None:
        result.transitions = transition_table(previous.assign(frame), result.assignments)
    if explain:
        result.explanations = explain_segments(model, frame)
    if tracking_uri is not None:
        result.model_ref = _log(
            result,
            frame,
            tracking_uri=tracking_uri,
            experiment=experiment,
            registry_name=registry_name,
            as_of=as_of,
            feature_params=feature_params,
        )
    return result


def _previous(
    tracking_uri: str | None, name: str
) -> tuple[CustomerClusterer | None, str | None, list[str]]:
    if tracking_uri is None:
        return None, None, []
    ref = tracking.find_model(tracking_uri=tracking_uri, name=name, alias=ALIAS)
    if ref is None:
        return None, None, ["first fit: no previous clusterer to match ids to"]
    return load_clusterer(tracking_uri=tracking_uri, name=name), ref.version, []


def summary_metrics(model: CustomerClusterer) -> dict[str, float]:
    out: dict[str, float] = {"n_clusters": float(model.n_clusters_)}
    if model.k_selection_ is not None:
        row = model.k_selection_.set_index("k").loc[model.n_clusters_]
        out.update({k: float(v) for k, v in row.items()})
    elif (stability := getattr(model, "stability_", None)) is not None:
        out["stability"] = float(stability)  # fixed k: its subsample fits still agree
    segs = model.profile_[model.profile_["cluster__id"].notna()]
    out["largest_share"] = float(segs["share"].max())
    out["smallest_share"] = float(segs["share"].min())
    out["unclustered_share"] = float(segs.loc[segs["cluster__id"] == -1, "share"].sum())
    quality = getattr(model, "quality_", None) or {}
    out["weak_structure"] = float(bool(quality.get("weak_structure")))
    out["k_at_edge"] = float(quality.get("k_at_edge") is not None)
    return out


def _log(
    result: ClusteringResult,
    frame: pd.DataFrame,
    *,
    tracking_uri: str,
    experiment: str,
    registry_name: str,
    as_of: str | None,
    feature_params: Mapping[str, Any] | None = None,
) -> Any:
    model = result.model
    with tracking.start_run(
        tracking_uri=tracking_uri,
        experiment=experiment,
        run_name=f"cluster {as_of or ''}".strip(),
        tags={"segml.kind": "clusterer", "as_of": as_of},
    ) as run:
        run.params({k: v for k, v in model.get_params().items()})
        run.metrics(summary_metrics(model))
        run.json(_records(model.profile_), "clusters/profile.json")
        run.json(model.dropped_features_, "clusters/dropped_features.json")
        run.json(model.quality_, "clusters/quality.json")
        if feature_params is not None:
            run.json(dict(feature_params), FEATURES_ARTIFACT)
        if model.k_selection_ is not None:
            run.json(_records(model.k_selection_), "clusters/k_selection.json")
            run.figure(
                plot_k_selection(model.k_selection_, chosen=model.n_clusters_),
                "clusters/k_selection.png",
            )
        if result.explanations is not None and len(result.explanations):
            run.json(_records(result.explanations), "clusters/explanations.json")
            run.figure(plot_explanations(result.explanations), "clusters/explanations.png")
        if result.transitions is not None:
            run.json(result.transitions.to_dict(), "clusters/transitions.json")
        columns = [ID_COLUMN] if ID_COLUMN in frame.columns else []
        example = frame[columns + list(model.feature_names_in_)].head(5)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_json(model.to_dict(), Path(tmp) / "clusterer.json")
            uri = tracking.log_code_model(
                code_path=_CODE,
                artifacts={"clusterer": path},
                input_example=example,
                output_example=model.assign(example),
                name="clusterer",
                pip_requirements=serving_requirements(),
                code_paths=[segml_source(Path(tmp) / "code")],
                optional_columns={ID_COLUMN: "string"},
            )
    ref = tracking.register_model(tracking_uri=tracking_uri, model_uri=uri, name=registry_name)
    tracking.set_alias(
        tracking_uri=tracking_uri, name=registry_name, alias=ALIAS, version=ref.version
    )
    return ref


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")  # type: ignore[no-any-return]
