"""The report's own figures (matplotlib, Agg backend): labelled, readable, returned open.

Models keep one colour in every figure (``segml.models.palette.model_style``, shared with the
plots each training run logs); the other colours here are for things that are not models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml.models.palette import model_style

__all__ = ["cluster_comparison", "lift_by_decile", "psi_bars", "segment_sizes"]

_BLUE, _RED, _GREEN, _ORANGE = "#3b6ea5", "#c44e52", "#55a868", "#dd8452"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def lift_by_decile(target: str, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> Any:
    """Grouped bars: lift per tenth of the customers by score (10 = highest), of the model and
    both baselines, each in its fixed colour (``segml.models.palette``).

    Bars sit at their decile: a table from an older segml, whose tied scores merged deciles
    (no ``share`` column), leaves the merged deciles empty instead of shifting bars, and its
    legend entry says so."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    width = 0.8 / max(len(tables), 1)
    for i, (who, rows) in enumerate(tables.items()):
        frame = pd.DataFrame(list(rows))
        label, color = model_style(who)
        if "share" not in frame:
            label += " (older table: tied scores merged deciles)"
        x = 10 - frame["decile"].astype(int).to_numpy() + i * width
        ax.bar(x, frame["lift"].astype(float), width=width, label=label, color=color)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(np.arange(10) + width * (len(tables) - 1) / 2, [str(d) for d in range(10, 0, -1)])
    ax.set(
        xlabel="tenth of the customers by score (10 = highest)",
        ylabel="lift (mean / overall mean)",
        title=f"{target}: lift by decile on the backtest",
    )
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def cluster_comparison(profile: pd.DataFrame, ratio_cols: Sequence[str]) -> Any:
    """Left: customers and revenue share per segment. Right: each segment's mean of the key
    features relative to all customers (log2 colour scale, value printed in every cell)."""
    plt = _pyplot()
    segs = profile[profile["cluster__id"].notna()].reset_index(drop=True)
    labels = [
        f"{int(i)}: {n}" for i, n in zip(segs["cluster__id"], segs["cluster__name"], strict=True)
    ]
    height = 0.9 + 0.55 * len(segs)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, max(height, 2.6)), gridspec_kw={"width_ratios": [1, 1.5]}
    )
    y = np.arange(len(segs))
    left.barh(y - 0.2, segs["share"] * 100, height=0.4, color=_BLUE, label="customers %")
    if "revenue_share" in segs:
        left.barh(
            y + 0.2,
            segs["revenue_share"].astype(float) * 100,
            height=0.4,
            color=_GREEN,
            label="revenue %",
        )
    left.set_yticks(y, labels, fontsize=8)
    left.invert_yaxis()
    left.set(xlabel="% of all customers / of revenue", title="segment sizes")
    left.legend(fontsize=8, loc="lower right")
    ratios = segs[list(ratio_cols)].astype(float).to_numpy()
    shown = np.log2(np.clip(ratios, 1 / 16, 16))
    image = right.imshow(np.nan_to_num(shown), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    names = [c.removesuffix(":ratio").split("__", 1)[-1] for c in ratio_cols]
    right.set_xticks(np.arange(len(names)), names, rotation=30, ha="right", fontsize=8)
    right.set_yticks(y, [str(int(i)) for i in segs["cluster__id"]], fontsize=8)
    for (r, c), v in np.ndenumerate(ratios):
        right.text(c, r, "-" if np.isnan(v) else f"{v:.2f}x", ha="center", va="center", fontsize=8)
    right.set_title("segment mean / all-customer mean")
    fig.colorbar(image, ax=right, label="log2 ratio", shrink=0.8)
    fig.tight_layout()
    return fig


def segment_sizes(segments: Sequence[Mapping[str, Any]]) -> Any:
    """Stacked bars per rule segment: treatment and control members, in priority order."""
    plt = _pyplot()
    names = [s["segment"] for s in segments]
    treat = np.array([s.get("treatment", 0) for s in segments], dtype=float)
    ctrl = np.array([s.get("control", 0) for s in segments], dtype=float)
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.32 * len(names)))
    y = np.arange(len(names))
    ax.barh(y, treat, color=_BLUE, label="treatment")
    ax.barh(y, ctrl, left=treat, color=_ORANGE, label="control (held out)")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="customers", title="rule-segment members (priority order)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def psi_bars(drift: pd.DataFrame, *, title: str, warn: float = 0.1, fail: float = 0.25) -> Any:
    """The columns with the largest PSI (at most 15), with the warn and fail lines."""
    plt = _pyplot()
    top = drift.dropna(subset=["psi"]).sort_values("psi", ascending=False).head(15)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.3 * max(len(top), 1)))
    colors = [_RED if p >= fail else _ORANGE if p >= warn else _BLUE for p in top["psi"]]
    models = top["model"] if "model" in top else top["column"]
    labels = [
        str(c) if "model" not in top else f"{c} ({m})"
        for c, m in zip(top["column"], models, strict=True)
    ]
    ax.barh(np.arange(len(top)), top["psi"], color=colors)
    ax.set_yticks(np.arange(len(top)), labels, fontsize=8)
    ax.axvline(warn, color=_ORANGE, ls="--", lw=1, label=f"warn {warn}")
    ax.axvline(fail, color=_RED, ls="--", lw=1, label=f"fail {fail}")
    ax.set(xlabel="population stability index (PSI)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
