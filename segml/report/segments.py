"""Report sections about customers: cluster profiles, rule segments, drift."""

from __future__ import annotations

from typing import Any

import pandas as pd

from segml import tracking
from segml.clusters.profiles import KEY_FEATURES, profile_segments
from segml.report.figures import cluster_comparison, psi_bars, segment_sizes
from segml.report.html import Section, esc, figure_img, missing, para, png_img, table
from segml.report.inputs import RunInputs
from segml.report.outputs import outputs_html

__all__ = ["clusters_section", "drift_section", "rules_section"]

_PROFILE_COLS = [
    ("rfm__recency_days:median", "recency d"),
    ("rfm__frequency:median", "orders"),
    ("rfm__monetary_total:median", "spend"),
]


def _run_profile(run: RunInputs) -> pd.DataFrame | None:
    s = run.scores
    if s is None or "cluster__id" not in s.columns:
        return None
    frame = s.to_pandas()
    ids = frame["cluster__id"].fillna(-1).astype(int).to_numpy()
    names = dict(zip(ids.tolist(), frame["cluster__name"].astype(str), strict=True))
    return profile_segments(frame, ids, names=names)


def _registry_profile(uri: str | None, name: str) -> tuple[pd.DataFrame | None, str]:
    ref = tracking.find_model(tracking_uri=uri, name=name, alias="champion") if uri else None
    if ref is None or uri is None:
        return None, ""
    rows = tracking.load_run_json(tracking_uri=uri, run_id=ref.run_id, path="clusters/profile.json")
    return (pd.DataFrame(rows) if rows else None), ref.run_id


def clusters_section(run: RunInputs, tracking_uri: str | None, registry_name: str) -> Section:
    title = "Cluster profiles"
    profile = _run_profile(run)
    source = f"customers of this run ({run.as_of})"
    reg_profile, reg_run = _registry_profile(tracking_uri, registry_name)
    if profile is None and reg_profile is not None:
        profile, source = reg_profile, f"training customers of the registered clusterer ({reg_run})"
    if profile is None:
        return Section(
            "clusters",
            title,
            missing(
                "No cluster assignment in this run (no cluster__id column) and no registered "
                f"clusterer '{registry_name}'; run `segml cluster` and score with "
                "scoring.clusters: true."
            ),
            available=False,
        )
    parts = [
        para(
            f"Segments of {source}: names from their profiles (docs/clusters.md); "
            "medians of recency (days), orders and spend; revenue: the segment's share "
            "of all spend."
        )
    ]
    parts.append(_profile_table(profile))
    ratio_cols = [f"{c}:ratio" for c in KEY_FEATURES if f"{c}:ratio" in profile.columns]
    if ratio_cols:
        parts.append(
            figure_img(cluster_comparison(profile, ratio_cols), "cluster sizes and feature ratios")
        )
    if reg_run and tracking_uri:
        quality = tracking.load_run_json(
            tracking_uri=tracking_uri, run_id=reg_run, path="clusters/quality.json"
        )
        parts.append(quality_block(quality))
        data = tracking.load_run_artifact(
            tracking_uri=tracking_uri, run_id=reg_run, path="clusters/k_selection.png"
        )
        if data:
            parts.append("<h3>Choosing k</h3>" + png_img(data, "choosing k"))
    return Section("clusters", title, "".join(parts))


def quality_block(quality: dict[str, Any] | None) -> str:
    """How much to trust the segments: silhouette and stability of the chosen k, its range,
    and the warnings (weak structure, k at the edge of the range) in red."""
    if not quality:
        return "<h3>Cluster quality</h3>" + missing(
            "The registered clusterer's run has no clusters/quality.json (fitted before segml "
            "logged it); refit with `segml cluster` to see silhouette, stability and warnings."
        )
    lo, hi = quality.get("k_range", [None, None])
    head = para(
        f"k = {quality['k']} (searched {lo}..{hi}); silhouette {_num(quality.get('silhouette'))}"
        f" (higher is better; below 0.10 counts as weak here); stability "
        f"{_num(quality.get('stability'))} (mean ARI between subsample fits; below 0.60 counts"
        " as weak). Thresholds and their calibration: docs/clusters.md."
    )
    warnings = [para(f"Warning: {w}", cls="lose") for w in quality.get("warnings", [])]
    if not warnings:
        warnings = [para("No warning: the structure is not weak and k is inside the range.")]
    return "<h3>Cluster quality</h3>" + head + "".join(warnings)


def _num(v: Any) -> str:
    return "\u2013" if v is None or v != v else f"{float(v):.2f}"


def _profile_table(profile: pd.DataFrame) -> str:
    cols = [(c, h) for c, h in _PROFILE_COLS if c in profile.columns]
    rows = []
    for r in profile.to_dict(orient="records"):
        seg = r.get("cluster__id")
        ident = "all" if seg is None or seg != seg else str(int(seg))
        rows.append(
            [
                ident,
                r["cluster__name"],
                int(r["customers"]),
                f"{r['share']:.1%}",
                _pct(r.get("revenue_share")),
                *[_whole(r.get(c)) for c, _ in cols],
                r.get("top_categories", ""),
            ]
        )
    header = [
        "id",
        "name",
        "customers",
        "share",
        "revenue",
        *[h for _, h in cols],
        "top categories",
    ]
    return table(header, rows, text_cols=(0, 1, len(header) - 1))


def _whole(v: Any) -> str:
    """Medians of days, orders and money: whole numbers read best."""
    return "\u2013" if v is None or v != v else f"{float(v):,.0f}"


def _pct(v: Any) -> str:
    return "\u2013" if v is None or v != v else f"{v:.1%}"


def rules_section(run: RunInputs) -> Section:
    title = "Rule segments and audiences"
    rep = run.segment_report
    if not rep:
        return Section(
            "rules",
            title,
            missing(
                f"No rule segments in {run.path} (no segments/report.json): set segments: in the "
                "config and run `segml score`, or `segml segment`."
            ),
            available=False,
        )
    every = rep.get("segments", [])
    segs = [s for s in every if "skipped" not in s.get("flags", [])]
    skipped = [s["segment"] for s in every if "skipped" in s.get("flags", [])]
    parts = [
        para(
            f"{rep.get('customers', 0):,} customers in priority order; channel columns: "
            "audience sizes (treatment and control with consent). "
            f"Mode {rep.get('mode')}, control salt "
            f"{rep.get('salt')!r}; MDE: the smallest lift a treatment-vs-control test "
            f"detects (baseline conversion: {rep.get('baseline')})."
        )
    ]
    parts.append(_segments_table(segs))
    if skipped:
        parts.append(
            para(
                f"Not applied ({len(skipped)} optional segments whose inputs this "
                f"data lacks, see the notes): {', '.join(skipped)}."
            )
        )
    if segs:
        parts.append(figure_img(segment_sizes(segs), "rule-segment members"))
    parts.append("<h3>Consent exclusions</h3>" + _exclusions_table(segs))
    parts.append("<h3>Overlaps</h3>" + _overlaps(rep.get("overlaps") or {}))
    notes = rep.get("notes", [])
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        parts.append(
            f"<details><summary>{len(notes)} notes from the segmenter (click to "
            f'open)</summary><ul class="note">{items}</ul></details>'
        )
    return Section("rules", title, "".join(parts))


def _segments_table(segs: list[dict[str, Any]]) -> str:
    channels = sorted({c for s in segs for c in s.get("audience", {})})
    rows = []
    for s in segs:
        mde = s.get("mde") or {}
        rows.append(
            [
                s["segment"],
                s.get("members"),
                s.get("treatment"),
                s.get("control"),
                _pct(s.get("control_realised")),
                *[s.get("audience", {}).get(c, "\u2013") for c in channels],
                f"{mde['absolute']:.3f}/{mde['relative']:.0%}" if mde else "\u2013",
                ", ".join(s.get("flags", [])),
            ]
        )
    header = [
        "segment",
        "members",
        "treatment",
        "control",
        "ctrl %",
        *channels,
        "MDE abs/rel",
        "flags",
    ]
    return table(header, rows, text_cols=(0, len(header) - 1))


_REASONS = {"no_consent_column": "no consent column in the data", "no_consent": "no consent"}


def _exclusions_table(segs: list[dict[str, Any]]) -> str:
    """Members kept out of an audience, per channel and reason (segments listed)."""
    grouped: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for s in segs:
        for channel, reasons in (s.get("exclusions") or {}).items():
            for why, n in reasons.items():
                if n:
                    grouped.setdefault((channel, why), []).append((s["segment"], int(n)))
    if not grouped:
        return para("No member was kept out of an audience for lack of consent.")
    rows = [
        (
            channel,
            _REASONS.get(why, why.replace("_", " ")),
            sum(n for _, n in found),
            ", ".join(f"{seg} {n:,}" for seg, n in found),
        )
        for (channel, why), found in sorted(grouped.items())
    ]
    intro = para("Members matched but kept out of a channel's audience.")
    return intro + table(["channel", "reason", "customers", "segments"], rows, text_cols=(0, 1, 3))


def _overlaps(overlaps: dict[str, Any]) -> str:
    pairs = sorted(overlaps.get("pairs") or [], key=lambda p: -int(p.get("both", 0)))[:12]
    if not pairs:
        return para("No customer matches two segments.")
    rows = [
        (
            p.get("segment"),
            p.get("other"),
            p.get("both"),
            p.get("to_segment"),
            p.get("to_higher_priority"),
        )
        for p in pairs
    ]
    intro = para(
        "Pairs of segments some customers both match (largest first); each customer "
        "goes to one segment by priority."
    )
    header = ["segment", "and", "match both", "assigned to segment", "to a higher priority"]
    return intro + table(header, rows, text_cols=(0, 1))


def drift_section(run: RunInputs, previous: RunInputs | None) -> Section:
    title = "Drift"
    parts = [outputs_html(run)]  # churn tiers, P(alive) information, CLV (segml.report.outputs)
    if run.drift is not None and len(run.drift):
        d = run.drift
        counts = d["status"].value_counts().to_dict()
        text = ", ".join(f"{n} {s}" for s, n in counts.items()) + " (column x model checks)."
        if "no_reference" in counts:
            text += " no_reference: the model was trained without a reference profile."
        if "constant" in counts:
            text += (
                " constant: nearly the same value for every training customer and still within"
                " 1% of it (segml.monitoring), so not a drift; see the notes above."
            )
        parts.append("<h3>Against each model's training reference</h3>" + para(text))
        flagged = d[d["status"].isin(["fail", "warn"])].sort_values("psi", ascending=False)
        if len(flagged):
            by_col = flagged.groupby(["column", "status"], sort=False).agg(
                psi=("psi", "max"), models=("model", lambda m: ", ".join(sorted(set(m))))
            )
            rows = [(c, st, r.psi, r.models) for (c, st), r in by_col.iterrows()]
            parts.append(
                table(["column", "status", "max PSI", "models"], rows, text_cols=(0, 1, 3))
            )
        if d["psi"].notna().any():
            parts.append(
                figure_img(
                    psi_bars(d, title="PSI against the training reference"),
                    "PSI against the training reference",
                )
            )
    else:
        parts.append(missing("No drift.csv in this run (only `segml score` writes one)."))
    parts.append("<h3>Against the previous run</h3>")
    if previous is None or previous.scores is None or run.scores is None:
        parts.append(missing("No earlier as_of=DATE run beside this one: nothing to compare."))
    else:
        parts.append(_against_previous(run, previous))
    return Section(
        "drift", title, "".join(parts), available=run.drift is not None or previous is not None
    )


def _compare_columns(run: RunInputs, previous: RunInputs) -> list[str]:
    assert run.scores is not None and previous.scores is not None
    both = set(run.scores.columns) & set(previous.scores.columns)
    wanted = [c for c in run.scores.columns if c.startswith("score__")] + list(KEY_FEATURES)
    return [c for c in wanted if c in both and run.scores[c].dtype.is_numeric()]


def _against_previous(run: RunInputs, previous: RunInputs) -> str:
    from segml.monitoring import drift_report, reference_profile

    assert run.scores is not None and previous.scores is not None
    cols = _compare_columns(run, previous)
    parts = [
        para(
            f"Previous run: {previous.path.name} ({previous.scores.height:,} customers; "
            f"now {run.scores.height:,})."
        )
    ]
    if cols:
        ref = reference_profile(previous.scores.select(cols).to_pandas(), columns=cols)
        report = drift_report(ref, run.scores.select(cols).to_pandas())
        parts.append(
            table(
                ["column", "PSI", "KS", "status"],
                report[["column", "psi", "ks", "status"]].itertuples(index=False),
                text_cols=(0, 3),
            )
        )
        parts.append(
            figure_img(
                psi_bars(report, title=f"PSI against {previous.path.name}"),
                "PSI against the previous run",
            )
        )
    parts.append(_transitions(run, previous))
    return "".join(parts)


def _transitions(run: RunInputs, previous: RunInputs) -> str:
    if run.members is None or previous.members is None:
        return ""
    from segml.segments.transitions import segment_changes

    _, summary = segment_changes(previous.members, run.members)
    rows = [
        (
            s["segment"],
            s["previous"],
            s["current"],
            s["change"],
            "new" if s["relative_change"] is None else f"{s['relative_change']:+.0%}",
            "flagged" if s["flagged"] else "",
        )
        for s in summary["sizes"]
    ]
    head = f"<h3>Rule-segment sizes since {esc(previous.as_of)}</h3>" + para(
        f"{summary['moved']:,} customers changed segment, {summary['new']:,} are new, "
        f"{summary['gone']:,} are gone."
    )
    return head + table(
        ["segment", "previous", "current", "change", "relative", ""], rows, text_cols=(0, 5)
    )
