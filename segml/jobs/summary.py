"""The end-of-run summary of ``segml run``: time per stage, where the outputs are, and what
needs attention, gathered from what the jobs return (``run_pipeline``'s result, the partition's
manifest and its segment report).

What needs attention: a model that only ties or loses against a baseline (or was not promoted,
so not scored); audiences left empty and why (no consent column, a segment whose optional
columns the data cannot produce, none reachable); segments flagged untestable or too small;
drift beyond the warning or failure threshold; the chosen k at the edge of the searched range
or a weak cluster structure; a cluster whose name claims a selective tier ("high-value") but
holds a large share of the customers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunSummary", "attention_items", "run_summary"]

# a name with one of these words claims a small elite; past this share it misleads
SELECTIVE_WORDS = ("high-value", "top", "vip", "best", "premium")
LARGE_SHARE = 0.3
# under 0.25 Kaufman and Rousseeuw find "no substantial structure"; the clusterer itself warns
# only under segml.clusters.quality.WEAK_SILHOUETTE (0.10)
OVERLAP_SILHOUETTE = 0.25
_CONSENT = re.compile(r"^(\w+) consent is read from (\S+), which is not in the data")
_SKIPPED = re.compile(r"^segment '([^']+)' skipped \(optional\)")


@dataclass
class RunSummary:
    stages: dict[str, float]
    outputs: list[tuple[str, str]]
    attention: list[str] = field(default_factory=list)

    def text(self) -> str:
        total = sum(self.stages.values())
        times = ", ".join(f"{k} {_secs(v)}" for k, v in self.stages.items())
        lines = [f"done in {_secs(total)} ({times})", ""]
        width = max((len(k) for k, _ in self.outputs), default=0) + 1
        lines += [f"{k + ':':<{width}} {v}" for k, v in self.outputs]
        if self.attention:
            lines += ["", f"needs attention ({len(self.attention)}):"]
            lines += [f"  - {item}" for item in self.attention]
        else:
            lines += ["", "needs attention: nothing"]
        return "\n".join(lines)


def _secs(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def run_summary(result: Mapping[str, Any]) -> RunSummary:
    """The summary of ``run_pipeline``'s result (reads the partition's segment report)."""
    part, manifest = Path(result["partition"]), result["manifest"]
    segments = _read_json(part / "segments" / "report.json")
    outputs = [
        ("report", str(result["report"])),
        ("scores", f"{part / 'scores.parquet'} ({manifest['rows_out']:,} customers)"),
    ]
    if segments is not None:
        rows = segments.get("segments", [])
        filled = sum(1 for s in rows if any(s.get("audience", {}).values()))
        where = part / "segments" / "audiences"
        outputs.append(("audiences", f"{where} ({filled} segments with someone to contact)"))
    outputs.append(("MLflow UI", f"mlflow ui --backend-store-uri {result['tracking_uri']}"))
    clusters = result.get("clusters")
    model = getattr(clusters, "model", None)
    return RunSummary(
        stages=dict(result["seconds"]),
        outputs=outputs,
        attention=attention_items(
            outcomes=result.get("outcomes", ()),
            manifest=manifest,
            segments=segments,
            cluster_quality=getattr(model, "quality_", None),
            cluster_profile=getattr(model, "profile_", None),
        ),
    )


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def attention_items(
    *,
    outcomes: Iterable[Any],
    manifest: Mapping[str, Any],
    segments: Mapping[str, Any] | None = None,
    cluster_quality: Mapping[str, Any] | None = None,
    cluster_profile: Any = None,
) -> list[str]:
    """Sentences for people, most important first (see the module docstring)."""
    items = _model_items(outcomes, manifest)
    items += _drift_items(manifest)
    items += [str(n) for n in (manifest.get("outputs") or {}).get("notes", [])]  # lifetime outputs
    if segments is not None:
        items += _segment_items(segments)
    if cluster_quality is not None:
        items += _cluster_items(cluster_quality)
    if cluster_profile is not None:
        items += _share_items(cluster_profile)
    return items


def _model_items(outcomes: Iterable[Any], manifest: Mapping[str, Any]) -> list[str]:
    items = []
    for o in outcomes:
        r, decision = o.result, getattr(o, "decision", None)
        comps = getattr(decision, "comparisons", None) or {}
        verdicts = {who: c["primary"] for who, c in comps.items() if "primary" in c}
        ties = [f"{who} on {v.metric}" for who, v in verdicts.items() if v.verdict == "ties"]
        loses = [f"{who} on {v.metric}" for who, v in verdicts.items() if v.verdict == "loses"]
        if loses:
            items.append(
                f"model {r.target} loses to {' and '.join(loses)} beyond the noise: that "
                "baseline ranks customers better."
            )
        if ties:
            items.append(
                f"model {r.target} only ties {' and '.join(ties)} (no better beyond the noise): "
                "its scores rank customers about as well as that baseline."
            )
        if not (ties or loses) and not r.beats_baselines:
            items.append(
                f"model {r.target} does not beat every baseline beyond the noise at its latest "
                "backtest date alone (see its table above; promotion pools several dates)."
            )
        if decision is not None and not decision.promote:
            items.append(f"model {r.target} was not promoted: {decision.reason}.")
    skipped = manifest.get("models_skipped") or []
    if skipped:
        items.append(f"not scored (no champion model): {', '.join(skipped)}.")
    return items


def _drift_items(manifest: Mapping[str, Any]) -> list[str]:
    drift = manifest.get("drift") or {}
    fail, warn = int(drift.get("fail", 0)), int(drift.get("warn", 0))
    if not fail and not warn:
        return []
    failed = sorted({w["column"] for w in manifest.get("warnings", []) if w["status"] == "fail"})
    worst = f" (max PSI {drift['max_psi']:.2f})" if drift.get("max_psi") is not None else ""
    cols = f": {', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}" if failed else ""
    return [
        f"drift against the training data{worst}: {fail} column/model pairs beyond the failure "
        f"threshold{cols}; {warn} beyond the warning one (drift.csv; retrain if it persists)."
    ]


def _segment_items(report: Mapping[str, Any]) -> list[str]:
    notes: Sequence[str] = report.get("notes", [])
    items = []
    for note in notes:
        if m := _CONSENT.match(note):
            items.append(
                f"every {m[1]} audience is empty: the consent column {m[2]} is not in the data "
                f"(nobody counts as consenting to {m[1]}; add it to the customers table)."
            )
    skipped = [m[1] for n in notes if (m := _SKIPPED.match(n))]
    if skipped:
        items.append(
            f"{len(skipped)} segments skipped, their columns are not in the data (e.g. intent__* "
            f"needs an events table): {', '.join(skipped)}."
        )
    rows = report.get("segments", [])
    untestable = [
        f"{s['segment']}" + (" (0 reachable)" if not s.get("reachable_treatment") else "")
        for s in rows
        if "untestable" in s.get("flags", [])
    ]
    if untestable:
        items.append(
            f"untestable segments (no control group large enough to measure a lift): "
            f"{', '.join(untestable)}."
        )
    small = [f"{s['segment']} ({s['members']})" for s in rows if "too_small" in s.get("flags", [])]
    if small:
        items.append(f"segments below their minimum size: {', '.join(small)}.")
    return items


def _cluster_items(quality: Mapping[str, Any]) -> list[str]:
    """The clusterer's own warnings (k at the edge, weak structure), and an overlap note for a
    silhouette under ``OVERLAP_SILHOUETTE`` that is not weak enough to be warned about."""
    items = list(quality.get("warnings", []))
    silhouette = quality.get("silhouette")
    if (
        silhouette is not None
        and silhouette < OVERLAP_SILHOUETTE
        and not quality.get("weak_structure")
    ):
        items.append(
            f"cluster silhouette {silhouette:.3f} (< {OVERLAP_SILHOUETTE}): the {quality['k']} "
            "clusters overlap a lot; read them as bands of a continuum more than as distinct "
            "groups."
        )
    return items


def _share_items(profile: Any) -> list[str]:
    items = []
    for row in profile.to_dict(orient="records") if hasattr(profile, "to_dict") else profile:
        name, share = str(row.get("cluster__name", "")), row.get("share")
        if name == "all customers" or share is None:
            continue
        word = next((w for w in SELECTIVE_WORDS if w in name.lower().split()), None)
        if word is not None and share > LARGE_SHARE:
            items.append(
                f"cluster '{name}' holds {share:.1%} of the customers: '{word}' is relative to "
                "this data's other clusters, not a small elite."
            )
    return items
