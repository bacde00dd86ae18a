"""Every supported input form gives the same features: pandas, Polars, DuckDB, CSV(.gz), Parquet
file/folder/glob."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

import segml
from segml.errors import DataError
from tests.conftest import AS_OF, tiny_orders


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return segml.build_features(tiny_orders(), as_of=AS_OF)


def _as_pandas(out: object) -> pd.DataFrame:
    if isinstance(out, pl.DataFrame):
        return out.to_pandas()
    if isinstance(out, duckdb.DuckDBPyRelation):
        return out.df()
    assert isinstance(out, pd.DataFrame)
    return out


def _write(kind: str, folder: Path) -> object:
    orders = tiny_orders()
    if kind == "csv.gz":
        path = folder / "orders.csv.gz"
        orders.to_csv(path, index=False, compression="gzip")
        return str(path)
    if kind == "parquet-file":
        path = folder / "orders.parquet"
        orders.to_parquet(path)
        return path
    parts = folder / "orders"
    parts.mkdir()
    orders.iloc[:6].to_parquet(parts / "part-0.parquet")
    orders.iloc[6:].to_parquet(parts / "part-1.parquet")
    return parts if kind == "parquet-folder" else str(parts / "part-*.parquet")


@pytest.mark.parametrize("kind", ["csv.gz", "parquet-file", "parquet-folder", "parquet-glob"])
def test_files(kind: str, tmp_path: Path, reference: pd.DataFrame) -> None:
    out = segml.build_features(_write(kind, tmp_path), as_of=AS_OF)
    pd.testing.assert_frame_equal(_as_pandas(out), reference, check_dtype=False)


def test_duckdb_relation(reference: pd.DataFrame) -> None:
    con = duckdb.connect()
    orders = tiny_orders()  # noqa: F841 - read by DuckDB's replacement scan
    relation = con.sql("select * from orders")
    out = segml.build_features(relation, as_of=AS_OF)
    assert isinstance(out, duckdb.DuckDBPyRelation)
    pd.testing.assert_frame_equal(_as_pandas(out), reference, check_dtype=False)


def test_polars_lazy(reference: pd.DataFrame) -> None:
    out = segml.build_features(pl.from_pandas(tiny_orders()).lazy(), as_of=AS_OF)
    pd.testing.assert_frame_equal(_as_pandas(out), reference, check_dtype=False)


# --- CSV files that are not what the config says (issue 13) ------------------------------------

HEADER = "customer_id,order_id,order_time,revenue\n"


def _config(folder: Path, name: str, **keys: str) -> Path:
    extra = "".join(f"\n    {k}: {v!r}" for k, v in keys.items())
    config = folder / "shop.yaml"
    config.write_text(f"data:\n  orders:\n    path: {name}{extra}\n")
    return config


def _latin1(folder: Path, name: str, *, rows: int) -> Path:
    lines = [f"c{i},o{i},2024-01-{1 + i % 28:02d},{1 + i % 50}" for i in range(rows)]
    text = HEADER + "\n".join(lines) + "\ncafé,x,2024-01-05,3\n"
    path = folder / name
    data = text.encode("latin-1")
    if name.endswith(".gz"):
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "rows", "line"),
    [("head.csv", 2, 4), ("deep.csv", 5000, 5002), ("deep.csv.gz", 5000, 5002)],
)
def test_a_latin1_csv_names_file_offset_line_and_the_key(
    tmp_path: Path, name: str, rows: int, line: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from segml.cli import main

    _latin1(tmp_path, name, rows=rows)
    assert main(["validate", "--config", str(_config(tmp_path, name))]) == 3
    err = capsys.readouterr().err
    assert f"{name} is not valid UTF-8: byte 0xe9 at byte offset" in err
    assert f"(line {line:,}," in err
    assert "data.orders.encoding: latin-1" in err and "Traceback" not in err
    assert main(["validate", "--config", str(_config(tmp_path, name, encoding="latin-1"))]) == 0
    assert f"orders: {rows + 1:,} read = {rows + 1:,} used" in capsys.readouterr().out


def test_the_latin1_text_is_read_correctly(tmp_path: Path) -> None:
    from segml.config import DataConfig, OrdersConfig

    path = _latin1(tmp_path, "orders.csv", rows=2)
    config = DataConfig(orders=OrdersConfig(path=str(path), encoding="latin-1"))
    out = segml.build_features(str(path), as_of="2024-02-01", config=config)
    assert "café" in set(out["customer_id"])


def test_a_semicolon_csv_says_which_delimiter_and_the_key(tmp_path: Path) -> None:
    from segml.config import DataConfig, OrdersConfig

    text = "customer_id;order_id;order_time;revenue\na;o1;2024-01-01;5.5\n"
    (tmp_path / "orders.csv").write_text(text)
    path = str(tmp_path / "orders.csv")
    with pytest.raises(DataError, match=r"orders.csv seems to use ';' as its delimiter, not ','"):
        segml.prepare({"orders": path})
    with pytest.raises(DataError, match=r"Set data.orders.separator: ';'"):
        segml.prepare({"orders": path})
    shop = segml.prepare({"orders": path}, config=DataConfig(orders=OrdersConfig(separator=";")))
    assert shop.quality.count("orders", "rows") == 1


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive or an Excel workbook"),
        (b"PAR1\x15\x04", "a Parquet file"),
    ],
)
def test_a_binary_file_named_csv_is_refused(tmp_path: Path, head: bytes, what: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(head + bytes(range(256)) * 4)
    with pytest.raises(
        DataError, match=rf"orders: .*orders.csv could not be read as CSV: it looks like {what}"
    ):
        segml.prepare({"orders": str(path)})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("NaN", "orders.revenue has 1 of 2 rows that are NaN or infinite, e.g. ['NaN']"),
        ("Infinity", "orders.revenue has 1 of 2 rows that are NaN or infinite"),
        ("1e300", "orders.revenue has 1 of 2 rows beyond 1e15 in absolute value"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "features"])
def test_bad_amounts_fail_validation_not_later_steps(
    tmp_path: Path, value: str, message: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They passed `segml validate` (exit 0) and crashed `features` with a Polars dump."""
    from segml.cli import main

    (tmp_path / "orders.csv").write_text(HEADER + f"a,o1,2024-01-01,5\na,o2,2024-01-02,{value}\n")
    args = [command, "--config", str(_config(tmp_path, "orders.csv")), "--as-of", "2024-02-01"]
    if command == "features":
        args += ["--out", str(tmp_path / "f.parquet")]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"encoding": "klingon"}, "data.orders.encoding: Value error, unknown encoding 'klingon'"),
        ({"separator": ";;"}, "data.orders.separator: Value error, separator must be one"),
    ],
)
def test_bad_encoding_or_separator_keys(tmp_path: Path, keys: dict[str, str], message: str) -> None:
    from segml.config import load_config
    from segml.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, "orders.csv", **keys))


def test_a_ragged_csv_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(HEADER + "a,o1,2024-01-01,5\nb,o2,2024-01-02,7,x,y\n")
    with pytest.raises(DataError, match=r"orders.csv could not be read as CSV: a line has more"):
        segml.prepare({"orders": str(tmp_path / "orders.csv")})
