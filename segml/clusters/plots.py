"""Figures of the k sweep and of the segment explanations (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["plot_explanations", "plot_k_selection"]

_PANELS = (
    ("silhouette", "silhouette (sample) ↑"),
    ("calinski_harabasz", "Calinski-Harabasz ↑"),
    ("davies_bouldin", "Davies-Bouldin ↓"),
    ("stability", "stability: subsample ARI ↑"),
    ("elbow", "elbow (Krzanowski-Lai) ↑"),
    ("bic", "BIC ↓"),
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_k_selection(table: pd.DataFrame, *, chosen: int, title: str = "") -> Any:
    """One panel per metric against k; the chosen k is marked in every panel."""
    plt = _pyplot()
    panels = [(c, t) for c, t in _PANELS if c in table and table[c].notna().any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), squeeze=False)
    for ax, (column, label) in zip(axes[0], panels, strict=True):
        ax.plot(table["k"], table[column], marker="o", color="#3b6ea5")
        if column == "stability" and "stability_std" in table:
            ax.fill_between(
                table["k"],
                table[column] - table["stability_std"],
                table[column] + table["stability_std"],
                alpha=0.2,
                color="#3b6ea5",
            )
        ax.axvline(chosen, color="#c44e52", linestyle="--", linewidth=1)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("k")
        ax.set_xticks(list(table["k"]))
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"choosing k (chosen: {chosen}, dashed)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_explanations(explanations: pd.DataFrame) -> Any:
    """Mean |SHAP| of the top features of each segment, one panel per segment."""
    plt = _pyplot()
    segments = list(dict.fromkeys(explanations["cluster__id"]))
    fig, axes = plt.subplots(
        len(segments), 1, figsize=(8, 1.7 * len(segments) + 0.5), squeeze=False
    )
    for ax, seg in zip(axes[:, 0], segments, strict=True):
        part = explanations[explanations["cluster__id"] == seg].iloc[::-1]
        colors = ["#55a868" if d == "+" else "#c44e52" for d in part["direction"]]
        ax.barh(part["feature"], part["importance"], color=colors)
        ax.set_title(
            f"{seg}: {part['cluster__name'].iloc[0]} "
            f"(surrogate fidelity {part['fidelity'].iloc[0]:.2f})",
            fontsize=9,
        )
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel("mean |SHAP| (log-odds); green: higher value -> in the segment")
    fig.tight_layout()
    return fig
