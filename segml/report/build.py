"""``write_report``: one self-contained HTML file from a run folder and the tracking store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from segml.io import write_text
from segml.report.btyd import btyd_section
from segml.report.html import missing, page
from segml.report.inputs import (
    find_tracking_uri,
    previous_run_dir,
    read_run,
    resolve_run_dir,
)
from segml.report.models import backtest_section, find_model_runs, plots_section, quality_section
from segml.report.segments import clusters_section, drift_section, rules_section

__all__ = ["REPORT_NAME", "SECTIONS", "build_report", "write_report"]

REPORT_NAME = "report.html"
SECTIONS = ("quality", "backtest", "plots", "btyd", "clusters", "rules", "drift")


def build_report(
    run_dir: str | Path,
    *,
    tracking_uri: str | None = None,
    previous: str | Path | None = None,
    registry_prefix: str = "segml",
    cluster_model: str = "segml-clusters",
    label: str | Path | None = None,
) -> str:
    """The report's HTML for a run folder (see ``segml.report.inputs`` for what it reads);
    ``label``: how the subtitle names the run (default: its path; a job building the report in
    its staging folder passes the partition's name)."""
    import matplotlib

    matplotlib.use("Agg")
    path = resolve_run_dir(run_dir)
    run = read_run(path)
    prev_dir = Path(previous) if previous is not None else previous_run_dir(path)
    prev = read_run(prev_dir) if prev_dir is not None else None
    uri = tracking_uri or find_tracking_uri(path)
    models = find_model_runs(run, uri, registry_prefix)
    sections = [
        quality_section(run),
        backtest_section(models, uri),
        plots_section(models, uri),
        btyd_section(run, models, uri),
        clusters_section(run, uri, cluster_model),
        rules_section(run),
        drift_section(run, prev),
    ]
    if uri is None:
        sections[1].body = missing(
            "No MLflow tracking store: none given and no mlflow.db in the run folder or its "
            "three parents. Pass --tracking-uri URI or --config C."
        )
    rows = run.scores.height if run.scores is not None else 0
    subtitle = (
        f"run {label or path} · as of {run.as_of} · {rows:,} customers · "
        f"written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    return page(f"segml report: {run.as_of}", subtitle, sections)


def write_report(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    tracking_uri: str | None = None,
    previous: str | Path | None = None,
    registry_prefix: str = "segml",
    cluster_model: str = "segml-clusters",
) -> Path:
    """Write the report atomically (default ``<run>/report.html``) and return its path.

    ``run_dir``: a run partition ``as_of=DATE/`` of ``segml score`` or ``segml run``, or the
    folder of partitions (its latest one). ``previous``: the run to compare with (default: the
    latest earlier sibling partition). ``tracking_uri``: the MLflow store (default: the first
    ``mlflow.db`` in the run folder or its three parents). Absent inputs give a section that
    says so; nothing else is required.
    """
    path = resolve_run_dir(run_dir)
    text = build_report(
        path,
        tracking_uri=tracking_uri,
        previous=previous,
        registry_prefix=registry_prefix,
        cluster_model=cluster_model,
    )
    target = Path(out) if out is not None else path / REPORT_NAME
    return write_text(text, target)
