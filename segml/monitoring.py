"""Drift monitoring: population stability index and Kolmogorov-Smirnov against a reference.

A *reference profile* is a small JSON-serialisable summary of a training frame, stored with the
model: per numeric column the decile bin edges, the share of rows in each bin (missing values get
a bin of their own) and a sample of up to ``sample_size`` values for KS; per text column the share
of each of its most frequent values. ``drift_report`` compares a new frame with it.

Conventions (overridable): PSI < 0.1 stable, 0.1-0.25 ``warn``, >= 0.25 ``fail``.

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
) -> pd.DataFrame:
    """One row per profiled column: psi, ks statistic and p-value (numeric), status.

    A column of the profile that is missing from ``frame`` is reported with status ``missing``.
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
        if ref["kind"] == "numeric":
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            psi = population_stability_index(ref["shares"], _numeric_shares(values, ref["edges"]))
            finite = values[~np.isnan(values)]
            if len(finite) > ks_max_rows:
                finite = np.random.default_rng(0).choice(finite, ks_max_rows, replace=False)
            if len(finite) and ref["sample"]:
                result = stats.ks_2samp(ref["sample"], finite)
                ks, pvalue = float(result.statistic), float(result.pvalue)
        else:
            psi = _text_psi(ref["shares"], frame[name])
        status = "fail" if psi >= fail else "warn" if psi >= warn else "ok"
        rows.append({"column": name, "psi": psi, "ks": ks, "ks_pvalue": pvalue, "status": status})
    return pd.DataFrame(rows, columns=["column", "psi", "ks", "ks_pvalue", "status"])
