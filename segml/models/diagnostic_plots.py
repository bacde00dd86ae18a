"""Figures of the BTYD diagnostics (``segml.models.diagnostics``), for notebooks and the report.

Each function takes the table its namesake in ``segml.models.diagnostics`` returns and gives an
open matplotlib figure (Agg backend). Models keep their colour of every other plot
(``segml.models.palette``: BG/NBD orange, the value model blue); what actually happened is black.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segml.errors import DataError
from segml.models.diagnostics import is_constant
from segml.models.palette import model_style

__all__ = [
    "plot_calibration_vs_holdout",
    "plot_clv_histogram",
    "plot_cumulative_transactions",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
]

_ACTUAL = "#1f2933"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _heatmap(matrix: pd.DataFrame, *, title: str, label: str, vmin: float, vmax: float) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    values = np.ma.masked_invalid(matrix.to_numpy(dtype=np.float64))
    image = ax.imshow(values, aspect="auto", origin="upper", cmap="viridis", vmin=vmin, vmax=vmax)
    recency = [float(c) for c in matrix.columns]
    ticks = np.unique(np.linspace(0, len(recency) - 1, min(len(recency), 8)).round().astype(int))
    ax.set_xticks(ticks, [f"{recency[i]:g}" for i in ticks])
    rows = list(matrix.index)
    yticks = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), 10)).round().astype(int))
    ax.set_yticks(yticks, [str(rows[i]) for i in yticks])
    ax.set(
        xlabel="recency: customer's age at the last purchase (days)",
        ylabel="frequency: repeat purchases",
        title=title,
    )
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return fig


def plot_frequency_recency_matrix(matrix: pd.DataFrame, *, t: float) -> Any:
    """Heat map of ``frequency_recency_matrix``: expected purchases in the next ``t`` days
    (bright: the customers who will buy most: many purchases, the last one recent)."""
    values = matrix.to_numpy(dtype=np.float64)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    age = max((float(c) for c in matrix.columns), default=0.0)
    title = f"BG/NBD expected purchases in the next {t:g} days (age {age:g} days)"
    if is_constant(matrix):
        title += "\n(constant: the fit does not tell customers apart)"
    return _heatmap(matrix, title=title, label="expected purchases", vmin=0.0, vmax=max(top, 1e-9))


def plot_probability_alive_matrix(matrix: pd.DataFrame) -> Any:
    """Heat map of ``probability_alive_matrix`` on a fixed 0..1 scale (a constant matrix, as
    from a degenerate fit, shows as one flat colour and its title says so)."""
    age = max((float(c) for c in matrix.columns), default=0.0)
    title = f"BG/NBD probability a customer is alive (age {age:g} days)"
    if is_constant(matrix):
        values = matrix.to_numpy(dtype=np.float64)
        level = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        title += f"\n(constant: about {level:.2f} everywhere; it ranks nobody)"
    return _heatmap(matrix, title=title, label="P(alive)", vmin=0.0, vmax=1.0)


def plot_calibration_vs_holdout(table: pd.DataFrame, *, holdout_days: float) -> Any:
    """Bars per calibration-purchase group: mean actual holdout purchases (black) against the
    BG/NBD prediction (orange), as [FHL05] figure 3; customers per group under the axis."""
    plt = _pyplot()
    frame = pd.DataFrame(table)
    label, color = model_style("btyd")
    x = np.arange(len(frame))
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.plot(x, frame["actual"].astype(float), marker="o", color=_ACTUAL, label="actual")
    ax.plot(x, frame["predicted"].astype(float), marker="s", ls="--", color=color, label=label)
    ticks = [
        f"{f}\n(n={int(n):,})" for f, n in zip(frame["frequency"], frame["customers"], strict=True)
    ]
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set(
        xlabel="repeat purchases in the calibration period (customers in the group)",
        ylabel=f"mean purchases in the {holdout_days:g}-day holdout",
        title="calibration vs holdout purchases",
    )
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cumulative_transactions(table: pd.DataFrame, *, cutoff: Any, freq: str = "W") -> Any:
    """Cumulative repeat transactions, actual (black) against BG/NBD (orange), daily (``freq``
    "D") or at the end of each week ("W"), with the calibration/holdout split marked."""
    if freq not in ("D", "W"):
        raise DataError(f"freq must be 'D' (daily) or 'W' (weekly); got {freq!r}.")
    plt = _pyplot()
    frame = pd.DataFrame(table)
    dates = pd.to_datetime(frame["date"])
    keep = np.ones(len(frame), dtype=bool)
    if freq == "W":  # every 7th day counted back from the last, so the last day is shown
        keep = (np.arange(len(frame))[::-1] % 7) == 0
    label, color = model_style("btyd")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.plot(dates[keep], frame["actual"][keep], color=_ACTUAL, label="actual")
    ax.plot(dates[keep], frame["expected"][keep], color=color, ls="--", label=label)
    split = pd.Timestamp(str(cutoff))
    ax.axvspan(split, dates.iloc[-1], color="grey", alpha=0.12, lw=0)
    ax.axvline(split, color="grey", ls=":", lw=1)
    low, high = ax.get_ylim()
    ax.text(split, low + 0.04 * (high - low), " holdout", fontsize=8, va="bottom")
    ax.set(
        xlabel="date",
        ylabel="cumulative repeat transactions",
        title=f"cumulative repeat transactions ({'weekly' if freq == 'W' else 'daily'})",
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_clv_histogram(
    scores: Any, *, column: str = "clv__btyd_12m", bins: int = 40, clip_quantile: float = 0.99
) -> Any:
    """Histogram of a predicted-value column of a score table (pandas, Polars or a mapping),
    cut at its ``clip_quantile`` so one large customer does not squeeze the rest into one
    bar (the title says how many lie above); median and mean marked."""
    values = _column(scores, column)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise DataError(f"column {column!r} has no finite values to plot.")
    plt = _pyplot()
    top = float(np.quantile(values, clip_quantile))
    above = int((values > top).sum())
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    shown = values[values <= top] if top > values.min() else values
    ax.hist(shown, bins=bins, color=model_style("model")[1], alpha=0.85)
    for stat, style in ((np.median(values), "-"), (values.mean(), "--")):
        ax.axvline(float(stat), color=_ACTUAL, ls=style, lw=1)
    more = f"; {above:,} above {top:,.0f} not shown" if above and top > values.min() else ""
    stats = f"solid: median {np.median(values):,.0f}, dashed: mean {values.mean():,.0f}"
    ax.set(
        xlabel=f"{column} ({stats})",
        ylabel="customers",
        title=f"predicted customer value, {values.size:,} customers{more}",
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _column(scores: Any, column: str) -> np.ndarray:
    if isinstance(scores, Mapping) or hasattr(scores, "columns"):
        names = list(scores.keys() if isinstance(scores, Mapping) else scores.columns)
        if column not in names:
            shown = names[:12]
            raise DataError(
                f"the score table has no column {column!r}; found {shown}"
                f"{' ...' if len(names) > 12 else ''}. Pass column=<a predicted-value column>."
            )
        return np.asarray(scores[column], dtype=np.float64)
    return np.asarray(scores, dtype=np.float64)
