"""Prove the benchmark honest: segml and the three hand-written builds give the same table.

Runs all four implementations on a small store (200k events by default) and asserts, after
sorting by customer_id: the same columns in the same order, the same customers, the same dtype
family (text or float64), nulls in the same places and every value equal within 1e-9 relative
(absolute below 1: shares and day differences near the cutoff lose digits to cancellation).

    .venv/bin/python benchmarks/check_equal.py [--size 200k] [--seed 0]

Exit status 0 when all agree, 1 (with every difference listed) when not.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import baselines
import generate
import numpy as np

IMPLEMENTATIONS = ("segml", "pandas", "polars", "duckdb")
TOLERANCE = 1e-9


def to_polars(frame: Any) -> Any:
    """A pandas, Polars or Arrow table as a Polars DataFrame sorted by customer_id."""
    import polars as pl

    if isinstance(frame, pl.DataFrame):
        out = frame
    elif type(frame).__module__.startswith("pandas"):
        out = pl.from_pandas(frame)
    else:
        out = pl.from_arrow(frame)
    return out.sort("customer_id")  # type: ignore[union-attr]


def compare(expected: Any, got: Any, *, label: str = "") -> list[str]:
    """Every difference between two feature tables (sorted Polars frames), as messages."""
    import polars as pl

    where = f"{label}: " if label else ""
    if expected.columns != got.columns:
        missing = [c for c in expected.columns if c not in got.columns]
        extra = [c for c in got.columns if c not in expected.columns]
        return [f"{where}columns differ: missing {missing}, extra {extra} (or order differs)"]
    if expected.height != got.height:
        return [f"{where}{got.height} customers, expected {expected.height}"]
    problems = []
    if not expected["customer_id"].equals(got["customer_id"]):
        problems.append(f"{where}customer ids differ")
        return problems
    for col in expected.columns[1:]:
        a, b = expected[col], got[col]
        numeric = a.dtype == pl.Float64
        if numeric != (b.dtype == pl.Float64) or (not numeric and b.dtype != a.dtype):
            problems.append(f"{where}{col}: dtype {b.dtype}, expected {a.dtype}")
            continue
        a_null, b_null = a.is_null().to_numpy(), b.is_null().to_numpy()
        if (a_null != b_null).any():
            problems.append(f"{where}{col}: nulls differ in {(a_null != b_null).sum()} rows")
            continue
        if not numeric:
            if not a.equals(b):
                problems.append(f"{where}{col}: values differ")
            continue
        x, y = a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy()
        scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1.0)
        bad = np.abs(x - y) > TOLERANCE * scale
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(
                f"{where}{col}: {bad.sum()} values differ, e.g. {y[i]!r} vs expected {x[i]!r}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the four feature builds agree.")
    parser.add_argument("--size", default="200k", help="events in the store (default 200k)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    store = generate.ensure_store(generate.parse_size(args.size), args.seed)
    tables = {}
    for name in IMPLEMENTATIONS:
        started = time.perf_counter()
        tables[name] = to_polars(getattr(baselines, f"{name}_features")(store))
        print(f"{name:7s} {time.perf_counter() - started:6.2f}s  {tables[name].shape}")
    reference = tables["segml"]
    problems = []
    for name in IMPLEMENTATIONS[1:]:
        problems += compare(reference, tables[name], label=f"{name} vs segml")
    if problems:
        print("\n".join(["DIFFERENT:", *problems]))
        return 1
    print(f"equal: {reference.height:,} customers x {reference.width} columns, all four builds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
