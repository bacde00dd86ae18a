"""The feature table stays the same, value for value, when the build changes how it computes.

Digests of the full feature table (every column's values, nulls and dtype, in row order) on the
synthetic store and on Online Retail, compared with ``feature_digests.json``, which was written
by the build before the speed-ups of issue 17 (decision "One pass closer to the limit" in
docs/decisions.md). Exact equality: a changed last bit in one value of one column fails, and
the message names the column. After a change that is meant to alter features, rewrite the file
(``python tests/features/test_identical.py``) and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import polars as pl

import segml
from segml.config import load_config
from segml.datasets import load_tables, make_shop

ROOT = Path(__file__).resolve().parents[2]
DIGESTS = Path(__file__).with_name("feature_digests.json")


def column_digest(s: pl.Series) -> str:
    """SHA-256 of a column: dtype, null mask and values (floats by their exact bits)."""
    h = hashlib.sha256(f"{s.name}:{s.dtype}:{s.len()}".encode())
    h.update(s.is_null().to_numpy().tobytes())
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        h.update(s.cast(pl.Float64).fill_null(0.0).to_numpy().tobytes())
    else:
        h.update("\x1f".join("\x00" if v is None else str(v) for v in s.to_list()).encode())
    return h.hexdigest()


def synthetic_table() -> pl.DataFrame:
    shop = make_shop(1500, seed=11)
    tables = {"orders": shop.orders, "events": shop.events, "customers": shop.customers}
    builder = segml.FeatureBuilder().fit(tables, as_of="2024-06-01")
    return builder.transform_table(tables, as_of="2024-06-01")


def online_retail_table(path: Path) -> pl.DataFrame:
    cfg = load_config(ROOT / "configs" / "online_retail.yaml")
    data = cfg.data.model_copy(
        update={
            "orders": cfg.data.orders.model_copy(update={"path": str(path)}),
            "customers": cfg.data.customers.model_copy(update={"path": str(path)}),
        }
    )
    cfg = cfg.model_copy(update={"data": data})
    shop = segml.prepare(load_tables(cfg), config=cfg)
    builder = segml.FeatureBuilder(**cfg.features.builder_params()).fit(shop, as_of="2011-09-01")
    return builder.transform_table(shop, as_of="2011-09-01")


def digests(table: pl.DataFrame) -> dict[str, Any]:
    return {
        "shape": list(table.shape),
        "columns": {c: column_digest(table[c]) for c in table.columns},
    }


def _check(name: str, table: pl.DataFrame) -> None:
    expected = json.loads(DIGESTS.read_text())[name]
    got = digests(table)
    assert got["shape"] == expected["shape"]
    assert list(got["columns"]) == list(expected["columns"])
    changed = [c for c, d in got["columns"].items() if expected["columns"][c] != d]
    assert not changed, f"{name}: columns whose values changed: {changed}"


def test_synthetic_store_features_are_unchanged() -> None:
    _check("synthetic", synthetic_table())


def test_online_retail_features_are_unchanged(online_retail_path: Path) -> None:
    _check("online_retail", online_retail_table(online_retail_path))


def test_digest_sees_the_last_bit() -> None:
    a = pl.Series("x", [0.1 + 0.2, None])
    b = pl.Series("x", [0.3, None])
    assert column_digest(a) != column_digest(b)
    assert column_digest(a) == column_digest(a.clone())
    assert column_digest(pl.Series("x", [1.0, None])) != column_digest(pl.Series("x", [1.0, 0.0]))


if __name__ == "__main__":  # write the reference digests with the build on the path
    shipped = ROOT / "segml" / "datasets" / "data" / "online_retail.csv.gz"
    shared = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else shipped
    out = {
        "synthetic": digests(synthetic_table()),
        "online_retail": digests(online_retail_table(path)),
    }
    DIGESTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {DIGESTS} with segml from {segml.__file__}")
