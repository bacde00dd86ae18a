"""The report's block on a scoring run's lifetime outputs (docs/outputs.md): churn-tier shares,
whether P(alive) carries information, and the CLV totals, from the manifest's ``outputs``."""

from __future__ import annotations

from typing import Any

from segml.report.html import para, table
from segml.report.inputs import RunInputs

__all__ = ["outputs_html"]


def outputs_html(run: RunInputs) -> str:
    """An ``<h3>`` block, or "" for a run without lifetime outputs (older runs, or disabled)."""
    outputs: dict[str, Any] | None = run.manifest.get("outputs")
    if not outputs:
        return ""
    tiers = outputs["churn_tiers"]
    cuts = outputs["settings"]["churn_tiers"]
    rows = [
        (tier, tiers["customers"][tier], tiers["shares"][tier])
        for tier in ("low", "medium", "high")
    ]
    unscored = tiers["customers"].get("unscored", 0)
    parts = [
        "<h3>Churn tiers and lifetime value</h3>",
        para(
            f"churn__tier from the calibrated lapse probability: low below "
            f"{cuts['medium_from']}, high from {cuts['high_from']}, medium between"
            + (f"; {unscored:,} customers without a lapse score." if unscored else ".")
        ),
        table(["tier", "customers", "share"], rows, text_cols=(0,)),
    ]
    months = outputs["settings"]["clv_months"]
    clv = [
        (col, info["customers"], info["total"], info["median"])
        for col, info in outputs["clv"].items()
    ]
    rate = outputs["settings"]["annual_discount_rate"]
    parts.append(
        para(
            f"CLV over {months} months, discounted at {rate:.0%} a year, revenue (not margin): "
            "clv__btyd_* from BG/NBD x Gamma-Gamma, clv__model_* from the value model."
        )
    )
    parts.append(table(["column", "customers", "total", "median"], clv, text_cols=(0,)))
    parts += [para(note) for note in outputs.get("notes", [])]
    return "".join(parts)
