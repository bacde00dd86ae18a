"""Report sections from the tracking store: data quality, the backtest table of each model
against its baselines, and the calibration, lift/gain and SHAP plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from segml import targets, tracking
from segml.models.leaderboard import WINNERS_ARTIFACT
from segml.models.metrics import metric_function, verdict_metrics
from segml.report.figures import lift_by_decile
from segml.report.html import Markup, Section, esc, figure_img, missing, para, png_img, table
from segml.report.inputs import RunInputs

__all__ = ["ModelRun", "backtest_section", "find_model_runs", "plots_section", "quality_section"]

_WHO = {"model": "model", "rfm": "RFM baseline", "btyd": "BG/NBD baseline"}
_ARROW = {"max": "↑", "min": "↓", "": ""}


def _columns(target: str) -> list[tuple[str, str]]:
    """The backtest table's metrics of ``target`` (its ``TargetSpec.metrics``), with "max" or
    "min" for the direction that is better, "" for none (interval coverage, shares)."""
    return [(n, _direction(n)) for n in targets.get(target).metrics]


def _direction(metric: str) -> str:
    try:
        return "max" if metric_function(metric)[1] > 0 else "min"
    except ValueError:  # not a ranking metric (next_order's coverage_50, ordered_share)
        return ""


def _who(target: str) -> dict[str, str]:
    """The rows of the target's table: the model and its baselines, with their labels."""
    return {w: _WHO.get(w, f"{w} baseline") for w in ("model", *targets.get(target).baselines)}


@dataclass
class ModelRun:
    target: str
    name: str
    version: str
    run_id: str
    role: str  # how this version relates to the run
    record: dict[str, Any] | None = None


def find_model_runs(run: RunInputs, tracking_uri: str | None, prefix: str) -> list[ModelRun]:
    """The models the run used (its manifest); for targets it did not score, the registry's
    champion, else its latest challenger."""
    if tracking_uri is None:
        return []
    used = run.manifest.get("models") or {}
    out = []
    for target in targets.names():
        if target in used:
            m = used[target]
            found = ModelRun(target, m["name"], str(m["version"]), m["run_id"], "used by this run")
        else:
            registered = _registered(tracking_uri, f"{prefix}-{target}", target)
            if registered is None:
                continue
            found = registered
        found.record = tracking.run_record(tracking_uri=tracking_uri, run_id=found.run_id)
        out.append(found)
    return out


def _registered(uri: str, name: str, target: str) -> ModelRun | None:
    for alias, role in (
        ("champion", "registry champion (not used by this run)"),
        ("challenger", "latest trained; not champion"),
    ):
        ref = tracking.find_model(tracking_uri=uri, name=name, alias=alias)
        if ref is not None:
            return ModelRun(target, ref.name, ref.version, ref.run_id, role)
    return None


# What each hygiene check did (the same words `segml` prints; segml.schema.prepare).
_QUALITY_ACTIONS = {
    "rows": "read",
    "null_time_rows": "dropped: no timestamp",
    "guest_rows": "dropped: no customer id",
    "non_product_rows": "dropped: fee/postage/adjustment",
    "bad_price_rows": "dropped: negative or missing price",
    "zero_amount_rows": "set aside: not a purchase for features; rfm_summary counts it",
    "duplicate_rows": "dropped: exact duplicate of another row",
    "rows_used": "used by the features (at the cutoff, when one was checked)",
    "return_rows": "of the rows used: returns, not purchases",
    "unknown_event_type_rows": "kept, used by no feature",
    "duplicate_customer_ids": "merged: one row per id",
    "rows_at_or_after_cutoff": "set aside: at or after the cutoff",
}
_TABLE_ORDER = {"orders": 0, "events": 1, "customers": 2}


def _quality_action(check: str) -> str:
    if check.endswith("_offsets_to_utc"):
        return "converted to UTC"
    return _QUALITY_ACTIONS.get(check, "")


def quality_section(run: RunInputs) -> Section:
    q = run.quality
    if not q:
        return Section(
            "quality",
            "Data quality",
            missing(
                f"No data-quality counts in {run.path} (no quality.json and no quality in "
                "_manifest.json)."
            ),
            available=False,
        )
    rows = []
    for t in sorted(q, key=lambda t: (_TABLE_ORDER.get(t, 9), t)):
        checks = q[t]
        total = checks.get("rows")
        for check in sorted(checks, key=lambda c: (c != "rows", list(checks).index(c))):
            n = checks[check]
            share = "" if check == "rows" or not total else f"{n / total:.1%}"
            rows.append((t, check.replace("_", " "), n, share, _quality_action(check)))
    intro = para(
        "What the hygiene rules did to each input table: rows per check, their share "
        "of the rows read, and what was done with them (configs/README.md explains "
        "each rule)."
    )
    table_html = table(
        ["table", "check", "rows", "% of read", "what happened"], rows, text_cols=(0, 1, 4)
    )
    return Section("quality", "Data quality", intro + table_html)


def _backtest_table(m: ModelRun, winners: dict[str, Any] | None) -> str:
    """The metrics of the model and both baselines; a value is bold only when ``winners``
    (the run's paired-bootstrap comparisons) says it beats both others beyond noise."""
    metrics = (m.record or {}).get("metrics", {})
    cols = _columns(m.target)
    verdicts = (winners or {}).get("metrics", {})
    rows = []
    for who, label in _who(m.target).items():
        cells: list[Any] = [label]
        for name, _ in cols:
            v = metrics.get(f"{who}_{name}")
            text = "\u2013" if v is None else f"{v:,.3f}"
            won = verdicts.get(name, {})
            if won.get("winner") == who:
                cells.append(Markup(f'<b title="{esc(_margins(won))}">{text}</b>'))
            else:
                cells.append(text)
        rows.append(cells)
    primary = verdict_metrics(m.target)
    header = [
        "who",
        *[f"{n}{'*' if n in primary else ''} {_ARROW[d]}".strip() for n, d in cols],
    ]
    notes = [_ties_note(metrics, _who(m.target))]
    if winners is None:
        notes.append(
            para(
                f"No per-metric comparison ({WINNERS_ARTIFACT}) in run "
                f"{m.run_id} (trained by an older segml): values shown without a "
                "winner."
            )
        )
    return table(header, rows) + "".join(notes)


def _margins(won: dict[str, Any]) -> str:
    """'beats rfm by 0.054 [0.037, 0.071]; ...' for the tooltip of a bold value."""
    parts = []
    for other, c in (won.get("versus") or {}).items():
        parts.append(
            f"beats {other} by {c.get('diff') or 0:.3g} "
            f"[{c.get('low') or 0:.3g}, {c.get('high') or 0:.3g}]"
        )
    return "; ".join(parts)


def _ties_note(metrics: dict[str, Any], labels: dict[str, str]) -> str:
    """Says when a score gives many customers the same value (share metrics split the tie)."""
    tied = {w: metrics.get(f"{w}_largest_tie_share") for w in labels}
    big = {w: v for w, v in tied.items() if v is not None and v >= 0.05}
    if not big:
        return ""
    who = ", ".join(f"{labels[w]} {v:.0%}" for w, v in big.items())
    return para(
        f"Largest group of customers with one and the same score: {who}. Top-decile "
        "capture and the lift/gain charts count such a tie by share of customers (as "
        "if ordered at random inside the tie)."
    )


def _verdict(m: ModelRun) -> str:
    """Beats / ties / loses against each baseline by whether the interval of the difference
    clears zero (``vs_<baseline>_<metric>_*`` metrics of the run); a run logged by an older
    segml has only the point-estimate flag, and the paragraph says so."""
    metrics = (m.record or {}).get("metrics", {})
    beats = metrics.get("beats_baselines")
    if beats is None:
        return ""
    promoted = metrics.get("promoted")  # see docs/models.md
    said = (
        ""
        if promoted is None
        else (" Promoted to champion." if promoted >= 0.5 else " Not promoted to champion.")
    )
    keys = targets.get(m.target).key_metrics
    others = {w: label for w, label in _who(m.target).items() if w != "model"}
    lines = [_versus(metrics, who, label, keys) for who, label in others.items()]
    if all(lines):
        return (
            "<p>The model against each baseline (model minus baseline, 95% paired-bootstrap "
            "interval over the backtest customers; beats or loses only when the interval "
            f"excludes 0, else ties):</p><ul>{''.join(lines)}</ul><p>{said.strip()}</p>"
        )
    primary = " and ".join(verdict_metrics(m.target)) or "its primary metrics"
    return (
        f"<p>This run was logged without intervals (an older segml): on point estimates the "
        f"model is {'' if beats >= 0.5 else 'not '}ahead of both baselines on "
        f"{esc(primary)} (* in the header), which is not a verdict beyond the noise.{said}</p>"
    )


def _versus(metrics: dict[str, Any], who: str, label: str, keys: Sequence[str]) -> str:
    """One list item: 'beats RFM baseline: roc_auc +0.055 [+0.040, +0.070]; log_loss ...'."""
    parts, first = [], None
    for name in keys:
        key = f"vs_{who}_{name}"
        if f"{key}_verdict" not in metrics:
            continue
        word = {1.0: "beats", -1.0: "loses"}.get(float(metrics[f"{key}_verdict"]), "ties")
        first = first or word
        parts.append(
            f"{esc(name)} {metrics.get(f'{key}_diff', float('nan')):+.3f} "
            f"[{metrics.get(f'{key}_low', float('nan')):+.3f}, "
            f"{metrics.get(f'{key}_high', float('nan')):+.3f}] ({word})"
        )
    if not parts:
        return ""
    css = {"beats": "win", "loses": "lose"}.get(first or "", "tie")
    return f'<li><span class="{css}">{first} {esc(label)}</span>: {"; ".join(parts)}</li>'


def _count(value: Any) -> str:
    try:
        return f"{int(float(value)):,}"
    except (TypeError, ValueError):
        return "?"


def _cutoffs(value: Any) -> str:
    """``2011-01-01,2011-01-16,...`` as '17 cutoffs, 2011-01-01 to 2011-09-01'."""
    dates = [d.strip() for d in str(value or "").strip("[]").replace("'", "").split(",")]
    dates = [d for d in dates if d]
    if not dates:
        return "? cutoffs"
    if len(dates) == 1:
        return f"1 cutoff ({dates[0]})"
    return f"{len(dates)} cutoffs, {dates[0]} to {dates[-1]}"


def backtest_section(models: list[ModelRun], tracking_uri: str | None) -> Section:
    title = "Backtest: models against their baselines"
    if not models:
        where = tracking_uri or "no tracking store found (pass --tracking-uri or --config)"
        return Section(
            "backtest",
            title,
            missing(f"No trained models in {where}; train them with `segml train --config C`."),
            available=False,
        )
    parts = [
        para(
            "Each model and both baselines scored on the same out-of-time backtest "
            "cutoff (↑ higher is better, ↓ lower). Bold: the best in the column beyond "
            "noise, i.e. a paired bootstrap over the backtest customers puts its "
            "difference to each other row above zero (95% interval; hover for the "
            "margins); a column without bold has no clear winner. *: the metrics on which "
            "a model must beat both baselines to be promoted."
        )
    ]
    for m in models:
        p = (m.record or {}).get("params", {})
        parts.append(
            f"<h3>{esc(m.target)}: {esc(m.name)} v{esc(m.version)} ({esc(m.role)})</h3>"
            + para(
                f"Backtest cutoff {p.get('test_cutoff', '?')}, label window to "
                f"{p.get('test_label_window_end', '?')}, {_count(p.get('test'))} customers; "
                f"trained on {_cutoffs(p.get('train_cutoffs'))}; MLflow run {m.run_id}."
            )
        )
        parts.append(
            _backtest_table(m, _winners(tracking_uri, m))
            if m.record
            else missing(f"run {m.run_id} is not in the tracking store.")
        )
        parts.append(_verdict(m))
    return Section("backtest", title, "".join(parts))


def _winners(uri: str | None, m: ModelRun) -> dict[str, Any] | None:
    if uri is None:
        return None
    found = tracking.load_run_json(tracking_uri=uri, run_id=m.run_id, path=WINNERS_ARTIFACT)
    return found if isinstance(found, dict) else None


def _artifact(uri: str, run_id: str, path: str, alt: str) -> str:
    data = tracking.load_run_artifact(tracking_uri=uri, run_id=run_id, path=path)
    return png_img(data, alt) if data else missing(f"no {path} in MLflow run {run_id}.")


def _lift(uri: str, m: ModelRun) -> str:
    tables = {}
    for who in _who(m.target):
        rows = tracking.load_run_json(
            tracking_uri=uri, run_id=m.run_id, path=f"tables/deciles_{who}.json"
        )
        if rows:
            tables[who] = rows
    if not tables:
        return missing(f"no decile tables in MLflow run {m.run_id}.")
    return figure_img(lift_by_decile(m.target, tables), f"{m.target}: lift by decile")


def plots_section(models: list[ModelRun], tracking_uri: str | None) -> Section:
    title = "Calibration, lift/gain and SHAP"
    if not models or tracking_uri is None:
        return Section(
            "plots",
            title,
            missing("No model runs to plot (see the backtest section)."),
            available=False,
        )
    parts = [
        para(
            "Per model, on the backtest: left, predicted against observed (the dashed "
            "diagonal is perfect calibration); right, cumulative gain (share of positives, "
            "or of revenue for value, captured by the top-scored customers, at each share "
            "of customers; customers with tied scores count as if ordered at random). "
            "Then lift per tenth of the customers by score and the SHAP summary of the "
            "model's inputs (red: high feature value; right of 0: pushes the score up). "
            "Each model keeps one colour in every plot: the model blue, the RFM baseline "
            "purple, BG/NBD orange."
        )
    ]
    for m in models:
        parts.append(f"<h3>{esc(m.target)} (v{esc(m.version)})</h3>")
        parts.append(
            _artifact(
                tracking_uri,
                m.run_id,
                "plots/calibration_gain.png",
                f"{m.target}: calibration and cumulative gain",
            )
        )
        parts.append(_lift(tracking_uri, m))
        parts.append(
            _artifact(tracking_uri, m.run_id, "plots/shap_summary.png", f"{m.target}: SHAP summary")
        )
    return Section("plots", title, "".join(parts))
