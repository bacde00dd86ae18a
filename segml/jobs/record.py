"""What a scoring run records: the partition's manifest, the drift verdict, the rejected
partition and the MLflow run (``segml.jobs.score`` calls these)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np

from segml.config import Config
from segml.engine import collect
from segml.io import (
    atomic_dir,
    atomic_file,
    fault_point,
    folder_hashes,
    json_text,
    write_json,
    write_text,
)
from segml.jobs.common import config_hash
from segml.schema import ShopData
from segml.scores.job import Champions
from segml.tracking import start_run

__all__ = [
    "data_span",
    "drift_fails",
    "drift_message",
    "log_run",
    "manifest_of",
    "reject",
    "write_manifest",
]


def data_span(shop: ShopData) -> dict[str, str]:
    """First and last order time in the data (UTC ISO), for the manifest."""
    row = collect(
        shop.orders.select(nw.col("t").min().alias("first"), nw.col("t").max().alias("last"))
    ).row(0, named=True)
    epoch = dt.datetime(1970, 1, 1)
    return {k: (epoch + dt.timedelta(days=float(v))).isoformat() for k, v in row.items()}


_UNHASHED = ("_manifest.json", "report.html")  # the manifest itself; the report has its date


def write_manifest(manifest: dict[str, Any], folder: Path, timings: dict[str, float]) -> None:
    """``_manifest.json``: the content (every file's SHA-256, ``files``) and ``content_sha256``
    over everything but ``execution``, which holds what differs between identical reruns (the
    timings and the time written)."""
    manifest["files"] = folder_hashes(folder, skip=_UNHASHED, volatile=("written_at",))
    manifest.pop("execution", None)
    manifest["content_sha256"] = hashlib.sha256(
        json_text({k: v for k, v in manifest.items() if k != "content_sha256"}).encode()
    ).hexdigest()
    manifest["execution"] = {
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    with atomic_file(folder / "_manifest.json") as tmp:
        tmp.write_text(json_text(manifest))
        fault_point("score:manifest")


def drift_fails(drift: Any, max_share: float) -> bool:
    """The job fails on drift when any model's score drifted beyond the failure threshold, or
    when more than ``max_share`` of a model's input features did."""
    for _, rows in drift[drift["status"] != "no_reference"].groupby("model"):
        is_score = rows["column"].str.startswith("score__")
        failed = rows["status"] == "fail"
        if (failed & is_score).any():
            return True
        features = rows[~is_score]
        if len(features) and (features["status"] == "fail").mean() > max_share:
            return True
    return False


def drift_message(drift: Any, cfg: Config, partition: Path) -> str:
    s = cfg.scoring
    failed = drift[drift["status"] == "fail"]
    worst = failed.sort_values("psi", ascending=False).iloc[0]
    return (
        f"{len(failed)} column(s) (a score, or more than {s.max_drifted_share:.0%} of the "
        f"features) drifted beyond PSI {s.psi_fail} against the training "
        f"reference, e.g. {worst['column']} (model {worst['model']}, PSI {worst['psi']:.3f});"
        f" nothing was published. The report is in {partition.parent / '_rejected'}. "
        "Retrain, or set scoring.fail_on_drift: false to publish anyway."
    )


def manifest_of(
    shop: ShopData,
    cfg: Config,
    cutoff: dt.datetime,
    champions: Champions,
    rows_out: int,
    drift: Any,
) -> dict[str, Any]:
    counts = drift["status"].value_counts().to_dict()
    return {
        "as_of": cutoff.isoformat(),
        "models": champions.versions(),
        "models_skipped": champions.skipped,
        "config_hash": config_hash(cfg),
        "data_span": data_span(shop),
        "rows_in": {t: q.get("rows", 0) for t, q in shop.quality.to_dict().items()},
        "rows_out": rows_out,
        "quality": shop.quality.to_dict(),
        "drift": {
            "max_psi": float(np.nanmax(drift["psi"])) if drift["psi"].notna().any() else None,
            **{str(k): int(v) for k, v in counts.items()},
        },
        "warnings": drift[drift["status"] != "ok"][["model", "column", "status"]].to_dict(
            orient="records"
        ),
    }


def reject(partition: Path, drift: Any, manifest: dict[str, Any]) -> None:
    with atomic_dir(partition.parent / "_rejected" / partition.name) as tmp:
        write_text(drift.to_csv(index=False), tmp / "drift.csv")
        write_json({**manifest, "status": "rejected: drift"}, tmp / "_manifest.json")


def log_run(uri: str, cfg: Config, manifest: dict[str, Any], drift: Any, partition: Path) -> None:
    with start_run(
        tracking_uri=uri,
        experiment=cfg.scoring.experiment,
        run_name=f"score-{manifest['as_of'][:10]}",
    ) as run:
        run.params(
            {
                "as_of": manifest["as_of"],
                "config_hash": manifest["config_hash"],
                "output": str(partition),
                **{
                    f"model_{t}": f"{m['name']} v{m['version']}"
                    for t, m in manifest["models"].items()
                },
            }
        )
        run.metrics(
            {
                "rows_out": manifest["rows_out"],
                "max_psi": manifest["drift"]["max_psi"] or float("nan"),
                **{f"seconds_{k}": v for k, v in manifest["execution"]["seconds"].items()},
            }
        )
        fault_point("score:mlflow")
        run.json(manifest, "manifest.json")
        run.json(drift.to_dict(orient="records"), "drift.json")
