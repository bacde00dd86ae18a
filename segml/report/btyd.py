"""The report's BTYD diagnostics section: the plots of the lifetimes documentation and the BG/NBD
paper, the predicted-value histogram and the value decile table.

Inputs: the training runs' ``tables/btyd_diagnostics.json`` (``segml.models.diagnostics``: the
BG/NBD fitted before the backtest cutoff, checked on its label window), the value run's decile
tables, and from the scoring run its score table and, when the run stored one, its BG/NBD fit
(``btyd_fit.json`` in the partition or ``btyd_fit`` in the manifest, as ``btyd_fit`` gives);
without that, the matrices are drawn from the backtest fit and say so.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from segml import tracking
from segml.models.diagnostic_plots import (
    plot_calibration_vs_holdout,
    plot_clv_histogram,
    plot_cumulative_transactions,
    plot_frequency_recency_matrix,
    plot_probability_alive_matrix,
)
from segml.models.diagnostics import (
    DIAGNOSTICS_ARTIFACT,
    frequency_recency_matrix,
    is_constant,
    probability_alive_matrix,
)
from segml.report.html import Section, figure_img, missing, para, table
from segml.report.inputs import RunInputs
from segml.report.models import ModelRun

__all__ = ["CLV_COLUMN", "btyd_section"]

CLV_COLUMN = "clv__btyd_12m"
_TITLE = "Customer-base diagnostics (BG/NBD)"
_FIT_FILE = "btyd_fit.json"


def btyd_section(
    run: RunInputs,
    models: list[ModelRun],
    tracking_uri: str | None,
    *,
    clv_column: str = CLV_COLUMN,
) -> Section:
    """The section; each subsection says what it lacks instead of failing."""
    diag, where = _diagnostics(models, tracking_uri)
    fit, source = _scoring_fit(run)
    if fit is None and diag is not None and diag.get("params") is not None:
        fit = diag["params"]
        source = (
            f"the BG/NBD fitted before the backtest cutoff {diag['cutoff']} (MLflow run "
            f"{where}); this scoring run stored no fit of its own"
        )
    parts = [
        para(
            "The plots BG/NBD users know (lifetimes' documentation, Fader, Hardie and Lee 2005). "
            "Black is what customers did; orange is BG/NBD, blue the value model, as in every "
            "plot of this report. docs/report.md says what a good fit looks like."
        ),
        _matrices(fit, source, run, diag),
        _holdout(diag, where),
        _value(run, models, tracking_uri, clv_column),
    ]
    available = fit is not None or diag is not None
    return Section("btyd", _TITLE, "".join(parts), available=available)


def _diagnostics(models: list[ModelRun], uri: str | None) -> tuple[dict[str, Any] | None, str]:
    """The first diagnostics artifact among the runs, the purchase target's first."""
    if uri is None:
        return None, ""
    for m in sorted(models, key=lambda m: m.target != "purchase"):
        found = tracking.load_run_json(tracking_uri=uri, run_id=m.run_id, path=DIAGNOSTICS_ARTIFACT)
        if isinstance(found, dict):
            return found, m.run_id
    return None, ""


def _scoring_fit(run: RunInputs) -> tuple[dict[str, Any] | None, str]:
    path = (run.folder or run.path) / _FIT_FILE
    stored = run.manifest.get("btyd_fit")
    outputs = run.manifest.get("outputs")  # the lifetime outputs step stores its fit's params
    if stored is None and isinstance(outputs, dict) and isinstance(outputs.get("btyd"), dict):
        stored = {"params": outputs["btyd"].get("params")}
    if stored is None and path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(stored, dict) or stored.get("params") is None:
        return None, ""
    params: dict[str, Any] = stored["params"]
    return params, f"the BG/NBD this scoring run fitted as of {stored.get('as_of', run.as_of)}"


def _ranges(run: RunInputs, diag: dict[str, Any] | None) -> tuple[int, float]:
    """Matrix axes: the scored customers' 99th percentile of repeat purchases and largest age,
    else the backtest's, else 20 purchases and a year."""
    s = run.scores
    if s is not None and {"rfm__frequency", "rfm__tenure_days"} <= set(s.columns):
        repeat = s["rfm__frequency"].drop_nulls().to_numpy() - 1
        age = s["rfm__tenure_days"].drop_nulls().to_numpy()
        if repeat.size and age.size:
            return max(int(np.ceil(np.quantile(repeat, 0.99))), 1), max(float(age.max()), 1.0)
    if diag is not None and "max_frequency" in diag:
        return max(int(diag["max_frequency"]), 1), max(float(diag["max_T"]), 1.0)
    return 20, 365.0


def _horizon(run: RunInputs) -> float:
    """The shortest horizon of the scores' expected-purchase columns (default 30 days)."""
    found = [
        float(c.removeprefix("btyd__expected_purchases_").removesuffix("d"))
        for c in (run.scores.columns if run.scores is not None else [])
        if c.startswith("btyd__expected_purchases_") and c.endswith("d")
    ]
    return min(found, default=30.0)


def _matrices(
    fit: dict[str, Any] | None, source: str, run: RunInputs, diag: dict[str, Any] | None
) -> str:
    head = "<h3>Expected purchases and P(alive) by frequency and recency</h3>"
    if fit is None:
        return head + missing(
            "No BG/NBD fit: the scoring run stored none and no training run logged "
            f"{DIAGNOSTICS_ARTIFACT} (retrain with this segml), or too few repeat buyers to fit."
        )
    top, age = _ranges(run, diag)
    t = _horizon(run)
    expected = frequency_recency_matrix(fit, t=t, max_frequency=top, max_recency=age)
    alive = probability_alive_matrix(fit, max_frequency=top, max_recency=age)
    notes = [
        f"From {source}. Rows: repeat purchases (0 to {top}, the 99th percentile); columns: the "
        f"customer's age at the last purchase, for a customer first seen {age:.0f} days ago. "
        "Blank cells cannot occur (no repeat purchase but a later last purchase)."
    ]
    for name, matrix in (("expected purchases", expected), ("P(alive)", alive)):
        if is_constant(matrix):
            values = matrix.to_numpy(dtype=np.float64)
            notes.append(
                f"The {name} matrix is constant (about {np.nanmean(values):.3g} in every cell): "
                "this fit does not tell customers apart, so do not rank or target on it."
            )
    notes += _alive_note(run)
    return (
        head
        + para(" ".join(notes))
        + figure_img(plot_frequency_recency_matrix(expected, t=t), "expected purchases matrix")
        + figure_img(plot_probability_alive_matrix(alive), "P(alive) matrix")
    )


def _alive_note(run: RunInputs) -> list[str]:
    """What the scored customers' P(alive) spans; said plainly when nearly everyone has the
    same value (a degenerate fit: the matrix may still vary in cells no customer sits in)."""
    s = run.scores
    if s is None or "btyd__p_alive" not in s.columns:
        return []
    values = s["btyd__p_alive"].drop_nulls().drop_nans().to_numpy()
    if values.size == 0:
        return []
    low, high = np.quantile(values, [0.05, 0.95])
    text = f"Scored customers' P(alive): 5% below {low:.3f}, 5% above {high:.3f}."
    if high - low <= 0.01:
        text += (
            " Nearly every customer has the same P(alive): in this data the column carries no "
            "information on who has stopped buying (a degenerate BG/NBD fit)."
        )
    return [text]


def _holdout(diag: dict[str, Any] | None, where: str) -> str:
    head = "<h3>Calibration vs holdout</h3>"
    if diag is None:
        return head + missing(
            f"No {DIAGNOSTICS_ARTIFACT} in the training runs (trained by an older segml or "
            "without tracking); retrain with `segml train --config C`."
        )
    if not diag.get("calibration_holdout"):
        return head + missing(
            f"Too few customers before the backtest cutoff {diag['cutoff']} to fit BG/NBD."
        )
    days = float(diag["holdout_days"])
    groups = pd.DataFrame(diag["calibration_holdout"])
    cumulative = pd.DataFrame(diag["cumulative"])
    intro = para(
        f"BG/NBD fitted on the orders before {diag['cutoff']} only (calibration), then compared "
        f"with the next {days:g} days (holdout), {diag.get('customers', 0):,} customers; MLflow "
        f"run {where}. Left to right: customers grouped by their repeat purchases in the "
        "calibration period, the mean they bought in the holdout against the mean the fit "
        "predicted; then the running total of repeat purchases over both periods."
    )
    rows = [
        (g["frequency"], g["customers"], g["actual"], g["predicted"])
        for g in groups.to_dict("records")
    ]
    return (
        head
        + intro
        + figure_img(
            plot_calibration_vs_holdout(groups, holdout_days=days), "calibration vs holdout"
        )
        + table(["repeat purchases (calibration)", "customers", "actual (holdout)", "BG/NBD"], rows)
        + figure_img(
            plot_cumulative_transactions(cumulative, cutoff=diag["cutoff"], freq="W"),
            "cumulative repeat transactions",
        )
    )


def _value(run: RunInputs, models: list[ModelRun], uri: str | None, column: str) -> str:
    head = "<h3>Predicted customer value</h3>"
    s = run.scores
    if s is not None and column in s.columns and s[column].drop_nulls().len() > 0:
        hist = figure_img(plot_clv_histogram(s, column=column), "predicted customer value")
    else:
        hist = missing(
            f"No {column} column in this run's scores (written by scoring runs of a segml with "
            "predicted customer value); the histogram is skipped."
        )
    return head + hist + _deciles(models, uri)


def _deciles(models: list[ModelRun], uri: str | None) -> str:
    value = next((m for m in models if m.target == "value"), None)
    if value is None or uri is None:
        return missing("No value model run: no decile table of predicted against actual value.")
    tables = {}
    for who in ("model", "btyd"):
        rows = tracking.load_run_json(
            tracking_uri=uri, run_id=value.run_id, path=f"tables/deciles_{who}.json"
        )
        if rows:
            tables[who] = {int(r["decile"]): r for r in rows}
    if not tables:
        return missing(f"no decile tables in MLflow run {value.run_id}.")
    labels = {"model": "value model", "btyd": "BG/NBD x Gamma-Gamma"}
    header = ["decile (10 = top)", "customers"]
    for who in tables:
        header += [f"{labels[who]}: predicted", f"{labels[who]}: actual"]
    rows = []
    for d in range(10, 0, -1):
        first = next(iter(tables.values())).get(d, {})
        n = first.get("n")
        cells: list[Any] = [d, "\u2013" if n is None else f"{float(n):,.1f}".removesuffix(".0")]
        for t in tables.values():
            cells += [t.get(d, {}).get("pred_mean"), t.get(d, {}).get("actual_mean")]
        rows.append(cells)
    p = value.record.get("params", {}) if value.record else {}
    intro = para(
        f"The value backtest (cutoff {p.get('test_cutoff', '?')}, revenue up to "
        f"{p.get('test_label_window_end', '?')}): customers split into tenths by each model's "
        "own prediction, the mean predicted and the mean actual revenue per tenth. A good "
        "model's actual falls from the top tenth to the bottom and sits close to its predicted."
    )
    return intro + table(header, rows)
