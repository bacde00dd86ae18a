"""Deterministic control-group draws from a salted MD5 hash.

Each (customer, segment) gets a number in [0, 1):

    u = int(md5(f"{customer_id}|{segment}|{salt}".encode("utf-8")).hexdigest()[:13], 16) / 2**52

and is held out as control when ``u < share``. The draw depends on nothing else (not on the
other customers, row order, the machine or a library's version), so a customer stays in the
same group on every rerun, and any warehouse with ``md5()`` can reproduce it. MD5 is used as a
well-mixed, standard function here, not for secrecy. DuckDB computes it vectorised
(docs/decisions.md has the measurement); ``control_draw`` is the one-customer reference.
"""

from __future__ import annotations

import contextlib
import hashlib

import duckdb
import polars as pl

__all__ = ["control_draw", "control_draws"]

_BITS = 52  # 13 hex digits: exactly representable in a float64


def control_draw(customer_id: object, segment: str, salt: str) -> float:
    """The draw of one customer in one segment (the reference for ``control_draws``)."""
    key = f"{customer_id}|{segment}|{salt}".encode()
    return int(hashlib.md5(key).hexdigest()[:13], 16) / 2**_BITS


def control_draws(frame: pl.DataFrame, *, salt: str, where: str | None = None) -> pl.Series:
    """The draw of every row of ``frame`` (text columns ``customer_id`` and ``segment``), in row
    order; null where the boolean column ``where`` is false (those rows are not hashed)."""
    con = duckdb.connect()
    try:
        # Nothing drawn on the user's terminal. In a Jupyter kernel DuckDB's progress bar is a
        # widget and refuses to be switched off without ipywidgets, so the draws make it short.
        with contextlib.suppress(duckdb.InvalidInputException):
            con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = true")  # results in row order
        con.register("rows", frame)
        key = "md5(customer_id || '|' || segment || '|' || $salt)"
        hashed = f'CASE WHEN "{where}" THEN {key} END' if where else key
        relation = con.sql(f"SELECT {hashed} AS h FROM rows", params={"salt": salt})
        assert relation is not None
        hexes = relation.pl()
    finally:
        con.close()
    digits = hexes.get_column("h").str.slice(0, _BITS // 4)
    return (digits.str.to_integer(base=16).cast(pl.Float64) / 2.0**_BITS).alias("draw")
