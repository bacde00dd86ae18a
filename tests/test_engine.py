"""Putting columns beside a table without copying it: ``segml.engine.attach`` and
``contiguous``."""

from __future__ import annotations

import polars as pl
import pytest

from segml.engine import attach, contiguous


def _chunked() -> pl.DataFrame:
    parts = [
        pl.DataFrame({"customer_id": ids, "x": [1.0] * len(ids)}) for ids in (["a", "c"], ["d"])
    ]
    return pl.concat(parts, rechunk=False)


def test_attach_lines_extra_up_with_the_table_rows() -> None:
    table = _chunked()
    extra = pl.DataFrame({"customer_id": ["d", "b", "a"], "y": [4, 2, 1]})  # no c, b unknown
    out = attach(table, extra)
    assert out.to_dict(as_series=False) == {
        "customer_id": ["a", "c", "d"], "x": [1.0, 1.0, 1.0], "y": [1, None, 4],
    }  # fmt: skip
    assert out.n_chunks("all") == [1, 1, 1]  # one piece each: nothing re-chunks later
    assert out.equals(table.join(extra, on="customer_id", how="left", maintain_order="left"))


def test_attach_puts_matching_rows_side_by_side() -> None:
    table = contiguous(_chunked())
    extra = pl.DataFrame({"customer_id": ["a", "c", "d"], "y": [1, 3, 4]})
    out = attach(table, extra)
    assert out["y"].to_list() == [1, 3, 4]
    assert out["x"].equals(table["x"])


def test_attach_refuses_repeated_ids() -> None:
    extra = pl.DataFrame({"customer_id": ["a", "a"], "y": [1, 2]})
    with pytest.raises(pl.exceptions.ComputeError):
        attach(_chunked(), extra)


def test_contiguous_copies_into_one_piece() -> None:
    table = _chunked()
    expected = table.clone()
    out = contiguous(table)
    assert out.n_chunks("all") == [1, 1] and out.equals(expected)
