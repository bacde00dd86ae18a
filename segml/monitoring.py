"""Drift monitoring: population stability index and Kolmogorov-Smirnov against a reference.

A *reference profile* is a small JSON-serialisable summary of a training frame, stored with the
model: per numeric column the decile bin edges, the share of rows in each bin (missing values get
a bin of their own) and a sample of up to ``sample_size`` values for KS; per text column the share
of each of its most frequent values. ``drift_report`` compares a new frame with it.

Conventions (overridable): PSI < 0.1 stable, 0.1-0.25 ``warn``, >= 0.25 ``fail``.

A *near-constant* numeric column (the central 98% of its reference sample within
``constant_tol`` = 1% of its magnitude, e.g. a degenerate BG/NBD fit's P(alive), 0.9999999
for nearly everyone) would make its decile bins hair-thin: a shift of 0.0005 moves every row to
another bin and PSI explodes (4.39 on Online Retail) though the column says the same thing.
Such a column is compared on three bins instead: below, inside and above the reference's
central range widened by that tolerance (plus missing). Staying inside gives status
``constant``; moving out of it still gives ``warn`` or ``fail``.

PSI counts every row. KS compares the reference sample with at most ``ks_max_rows`` of the new
values (drawn with a fixed seed, so a rerun gives the same statistic): the reference side is a
sample already, and its sampling error (about ``1/sqrt(5000)``) dwarfs the subsample's, while a
two-sample KS over millions of rows sorts them all (5M customers x 3 models x ~75 columns: most
of a scoring job's drift step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["drift_report", "population_stability_index", "reference_profile"]

_EPS = 1e-4
CONSTANT_TOL = 0.01


def population_stability_index(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI = sum((a - e) * ln(a / e)) over bins, shares floored at 1e-4 so empty bins count."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    finite = values[~np.isnan(values)]
    counts = np.histogram(finite, bins=np.asarray([-np.inf, *edges, np.inf]))[0]
    return [*(counts / max(len(values), 1)), float(np.isnan(values).mean()) if len(values) else 0.0]


def _profile_numeric(values: np.ndarray, sample_size: int, seed: int) -> dict[str, Any]:
    finite = values[~np.isnan(values)]
    edges = (
        sorted(set(np.quantile(finite, np.linspace(0.1, 0.9, 9)).tolist())) if len(finite) else []
    )
    rng = np.random.default_rng(seed)
    sample: list[float] = (
        rng.choice(finite, size=min(sample_size, len(finite)), replace=False).tolist()
        if len(finite)
        else []
    )
    return {
        "kind": "numeric",
        "edges": edges,
        "shares": _numeric_shares(values, edges),
        "sample": [float(v) for v in sample],
    }


def constant_band(
    sample: Sequence[float], *, tol: float = CONSTANT_TOL
) -> tuple[float, float] | None:
    """``(low, high)`` when the reference ``sample`` is near-constant: its 1st-99th percentile
    range is at most ``tol`` times its magnitude; the band is that range widened by the same
    width on each side. None for a column that varies (or an empty sample)."""
    values = np.asarray(sample, dtype=float)
    if not len(values):
        return None
    low, high = np.quantile(values, [0.01, 0.99]).tolist()
    width = tol * max(abs(low), abs(high))
    if high - low > width:
        return None
    return low - width, high + width


def _band_shares(values: np.ndarray, band: tuple[float, float]) -> list[float]:
    """Shares of rows below, inside and above ``band``, and missing."""
    n = max(len(values), 1)
    finite = values[~np.isnan(values)]
    below, above = int((finite < band[0]).sum()), int((finite > band[1]).sum())
    inside = len(finite) - below - above
    return [below / n, inside / n, above / n, (len(values) - len(finite)) / n]


def _numeric_psi(ref: dict[str, Any], values: np.ndarray, tol: float) -> tuple[float, bool]:
    """PSI on the reference's decile bins, or for a near-constant reference on its band
    (``constant_band``); the flag says which."""
    band = constant_band(ref["sample"], tol=tol)
    if band is None:
        return population_stability_index(
            ref["shares"], _numeric_shares(values, ref["edges"])
        ), False
    missing = float(ref["shares"][-1])
    expected = [(1 - missing) * s for s in _band_shares(np.asarray(ref["sample"]), band)[:3]]
    return population_stability_index([*expected, missing], _band_shares(values, band)), True


def _profile_text(values: pd.Series, top: int) -> dict[str, Any]:
    shares = values.fillna("<missing>").astype(str).value_counts(normalize=True)
    kept = shares.head(top)
    return {"kind": "text", "shares": {**kept.to_dict(), "<other>": float(1 - kept.sum())}}


def reference_profile(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    sample_size: int = 5000,
    top_values: int = 20,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarise ``frame`` (pandas) for later drift checks; JSON-serialisable."""
    columns = (
        list(columns) if columns is not None else [c for c in frame.columns if c != "customer_id"]
    )
    profile: dict[str, Any] = {"rows": len(frame), "columns": {}}
    for name in columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            profile["columns"][name] = _profile_numeric(values, sample_size, seed)
        else:
            profile["columns"][name] = _profile_text(col, top_values)
    return profile


def _text_psi(ref: dict[str, float], col: pd.Series) -> float:
    shares = col.fillna("<missing>").astype(str).value_counts(normalize=True)
    known = [k for k in ref if k != "<other>"]
    actual = [float(shares.get(k, 0.0)) for k in known]
    actual.append(float(1 - sum(actual)))
    return population_stability_index([ref[k] for k in known] + [ref["<other>"]], actual)


def drift_report(
    profile: dict[str, Any],
    frame: pd.DataFrame,
    *,
    warn: float = 0.1,
    fail: float = 0.25,
    ks_max_rows: int = 200_000,
    constant_tol: float = CONSTANT_TOL,
) -> pd.DataFrame:
    """One row per profiled column: psi, ks statistic and p-value (numeric), status.

    A column of the profile that is missing from ``frame`` is reported with status ``missing``;
    a near-constant numeric column (module docstring) that stays in its band, ``constant``.
    """
    rows = []
    for name, ref in profile["columns"].items():
        if name not in frame.columns:
            rows.append(
                {
                    "column": name,
                    "psi": np.nan,
                    "ks": np.nan,
                    "ks_pvalue": np.nan,
                    "status": "missing",
                }
            )
            continue
        ks = pvalue = np.nan
        constant = False
        if ref["kind"] == "numeric":
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            psi, constant = _numeric_psi(ref, values, constant_tol)
            finite = values[~np.isnan(values)]
            if len(finite) > ks_max_rows:
                finite = np.random.default_rng(0).choice(finite, ks_max_rows, replace=False)
            if len(finite) and ref["sample"]:
                result = stats.ks_2samp(ref["sample"], finite)
                ks, pvalue = float(result.statistic), float(result.pvalue)
        else:
            psi = _text_psi(ref["shares"], frame[name])
        status = "fail" if psi >= fail else "warn" if psi >= warn else "ok"
        if constant and status == "ok":
            status = "constant"
        rows.append({"column": name, "psi": psi, "ks": ks, "ks_pvalue": pvalue, "status": status})
    return pd.DataFrame(rows, columns=["column", "psi", "ks", "ks_pvalue", "status"])
