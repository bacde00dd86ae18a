"""The command line: messages without tracebacks, documented exit codes, atomic outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from segml.cli import main
from tests.conftest import tiny_customers, tiny_events, tiny_orders


@pytest.fixture
def shop_config(tmp_path: Path) -> Path:
    for name, frame in [
        ("orders", tiny_orders()),
        ("events", tiny_events()),
        ("customers", tiny_customers()),
    ]:
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    config = tmp_path / "shop.yaml"
    config.write_text(
        "data:\n"
        "  orders: {path: orders.csv}\n"
        "  events: {path: events.csv}\n"
        "  customers: {path: customers.csv}\n"
        "features: {top_k_categories: 2}\n"
    )
    return config


def test_features_command_writes_the_table(shop_config: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out" / "features.parquet"
    assert (
        main(["features", "--config", str(shop_config), "--as-of", "2024-03-01", "--out", str(out)])
        == 0
    )
    table = pl.read_parquet(out)
    assert table.get_column("customer_id").to_list() == ["a", "b", "c", "d"]
    assert "wrote 4 customers" in capsys.readouterr().out


def test_validate_prints_the_quality_report(shop_config: Path, capsys) -> None:
    assert main(["validate", "--config", str(shop_config)]) == 0
    out = capsys.readouterr().out
    assert "orders.guest_rows" in out and "match the data contract" in out


@pytest.mark.parametrize(
    ("yaml_text", "args", "code", "message"),
    [
        (
            "data:\n  orders: {path: orders.csv}\nfeatures: {top_k: 3}\n",
            [],
            2,
            "invalid key(s):\n  features.top_k: Extra inputs are not permitted",
        ),
        ("data:\n  orders: {path: missing.csv}\n", [], 3, "orders: no file at"),
        (
            "data:\n  orders: {path: orders.csv, columns: {order_time: ts}}\n",
            [],
            3,
            "orders is missing required columns",
        ),
        (
            "data:\n  orders: {path: orders.csv}\n",
            ["--as-of", "1999-01-01"],
            3,
            "no order or event happened before the cutoff",
        ),
        ("data:\n  orders: {path: orders.csv}\n", ["--as-of", "soon"], 3, "not an ISO date"),
    ],
)
def test_errors_exit_non_zero_without_traceback(
    shop_config: Path, yaml_text: str, args: list[str], code: int, message: str, capsys
) -> None:
    bad = shop_config.with_name("bad.yaml")
    bad.write_text(yaml_text)
    out = shop_config.with_name("f.parquet")
    argv = ["features", "--config", str(bad), "--out", str(out)]
    assert main(argv + (args or ["--as-of", "2024-03-01"])) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()  # nothing half-written


def test_missing_cutoff_is_an_error(shop_config: Path, capsys) -> None:
    out = str(shop_config.with_name("f.parquet"))
    assert main(["features", "--config", str(shop_config), "--out", out]) == 2
    assert "no cutoff: pass --as-of" in capsys.readouterr().err


def test_debug_shows_the_traceback(shop_config: Path) -> None:
    bad = shop_config.with_name("bad.yaml")
    bad.write_text("data:\n  orders: {path: missing.csv}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "segml.cli", "--debug", "validate", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3 and "Traceback" in proc.stderr and "no file at" in proc.stderr


def test_failed_run_keeps_the_previous_output(shop_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    assert (
        main(["features", "--config", str(shop_config), "--as-of", "2024-03-01", "--out", str(out)])
        == 0
    )
    before = out.read_bytes()
    broken = tmp_path / "orders.csv"
    pd.read_csv(broken).assign(quantity="x").to_csv(broken, index=False)
    assert (
        main(["features", "--config", str(shop_config), "--as-of", "2024-03-01", "--out", str(out)])
        == 3
    )
    assert out.read_bytes() == before


def test_segment_command_passes_the_as_of_date(tmp_path: Path, capsys) -> None:
    scores = tmp_path / "scores.parquet"
    pl.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "signup": pd.to_datetime(["2024-01-01", "2024-05-20", None]),
        }
    ).write_parquet(scores)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "channels: {}\ncontrol: {salt: s}\n"
        "segments:\n  - {name: old, priority: 1, when: 'days_since(signup) > 30'}\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  orders: {path: orders.csv}\n")
    args = ["segment", "--config", str(config), "--scores", str(scores), "--rules", str(rules)]
    assert main([*args, "--out", str(tmp_path / "none")]) == 2  # days_since needs the date
    assert "days_since(signup) needs" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main([*args, "--out", str(out), "--as-of", "2024-06-01"]) == 0
    members = pl.read_parquet(out / "members.parquet").sort("customer_id")
    assert members.get_column("segment").to_list() == ["old", "no_segment", "no_segment"]
