"""The command line: messages without tracebacks, documented exit codes, atomic outputs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from segml.cli import main
from tests.conftest import tiny_customers, tiny_events, tiny_orders
from tests.readonly import read_only


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


def test_progress_on_stderr_quiet_and_verbose(shop_config: Path, capsys) -> None:
    """Progress goes to stderr as timestamped lines when it is not a terminal (the first line
    before the data is read); --quiet keeps only the results; --verbose adds debug lines."""
    assert main(["validate", "--config", str(shop_config)]) == 0
    out, err = capsys.readouterr()
    first, second, *rest = err.splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d segml validate 0\.1\.0", first)
    assert second.endswith(" read and check the data: started")
    assert any("read and check the data done in" in line for line in rest)
    assert "match the data contract" in out and "started" not in out
    assert main(["--quiet", "validate", "--config", str(shop_config)]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == out
    assert main(["--verbose", "validate", "--config", str(shop_config)]) == 0
    assert "read and check the data: started" in capsys.readouterr().err
    assert main(["--quiet", "--verbose", "validate", "--config", str(shop_config)]) == 2
    assert "--quiet and --verbose contradict each other" in capsys.readouterr().err


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


# --------------------------------------------------------------------------- usage and help
COMMANDS = [
    "",
    "validate",
    "features",
    "train",
    "backtest",
    "cluster",
    "score",
    "segment",
    "run",
    "report",
]


@pytest.mark.parametrize(
    ("argv", "usage", "message"),
    [
        (["score"], "segml score", "Error: Missing option '--config' / '-c'."),
        (["score", "--config", "c.yaml"], "segml score", "Error: Missing option '--out'."),
        (["features", "--config", "c.yaml", "--bogus"], "segml features",
         "Error: No such option: --bogus"),
        (["--bogus"], "segml", "Error: No such option: --bogus"),
        (["bogus"], "segml", "Error: No such command 'bogus'."),
        (["train", "--config", "c.yaml", "--tune", "many"], "segml train",
         "Invalid value for '--tune'"),
    ],
    ids=["no --config", "no --out", "unknown option", "unknown root option", "unknown command",
         "not an int"],
)  # fmt: skip
def test_usage_errors_exit_2_with_the_usage_line(
    argv: list[str], usage: str, message: str, capsys
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Usage: {usage} [OPTIONS]"), err
    assert message in err and "unexpected" not in err and "Traceback" not in err


def test_version_and_bare_segml(capsys) -> None:
    from segml import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"segml {__version__}\n"
    assert main([]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("Usage: segml [OPTIONS] COMMAND") and "Exit codes:" in out.out
    assert out.err == ""


def _help(command: str, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")  # what `make cli-docs` uses
    assert main([*command.split(), "--help"]) == 0
    return capsys.readouterr().out


def test_help_lists_every_exit_code_and_shows_flags_without_a_type(capsys, monkeypatch) -> None:
    from segml import errors

    root = _help("", capsys, monkeypatch)
    for code, text in errors.EXIT_CODES.items():
        assert f"{code:>3}  {text}" in root
    codes = {c.exit_code for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, errors.SegmlError)}  # fmt: skip
    assert codes <= set(errors.EXIT_CODES)  # every error's code is documented
    for command in COMMANDS:
        text = root if not command else _help(command, capsys, monkeypatch)
        assert "<bool>" not in text and re.search(r"\n  --help +Show this message", text), text
    assert re.search(r"\n  --wait +queue behind", _help("score", capsys, monkeypatch))


def test_docs_cli_md_is_the_generated_help(capsys, monkeypatch) -> None:
    """docs/cli.md is what `make cli-docs` writes; regenerate it when an option changes."""
    generated = "Generated from `segml <command> --help` (regenerate with `make cli-docs`)."
    parts = ["# Command-line reference", "", generated, ""]
    for command in COMMANDS:
        text = "\n".join(line.rstrip() for line in _help(command, capsys, monkeypatch).splitlines())
        parts += [f"## segml {command}", "", "```", text, "```", ""]
    expected = "\n".join(parts) + "\n"
    actual = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert actual == expected, "docs/cli.md is stale: run `make cli-docs`"


# --------------------------------------------------------------------------- --out faults
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "--out", "{tmp}/a_file"], "--out {tmp}/a_file is a file; expected a folder"),
        (["run", "--out", "{tmp}/a_file/sub"],
         "--out {tmp}/a_file/sub cannot be created: {tmp}/a_file exists and is not a folder"),
        (["score", "--out", "/dev/null/scores"],
         "cannot be created: /dev/null exists and is not a folder"),
        (["features", "--out", "{tmp}/a_folder.csv"], "is a folder; expected a file path"),
        (["features", "--out", "{tmp}/f.txt"], "must end in .parquet or .csv; found '.txt'"),
        (["report", "--run", "{tmp}", "--out", "{tmp}/a_folder.csv"],
         "--out {tmp}/a_folder.csv is a folder; expected a file path"),
        (["segment", "--scores", "s.parquet", "--out", "{tmp}/a_file"],
         "--out {tmp}/a_file is a file; expected a folder"),
    ],
    ids=["a file for a folder", "under a file", "under a device", "a folder for a file",
         "unknown suffix", "report into a folder", "segment into a file"],
)  # fmt: skip
def test_unusable_out_exits_2_naming_the_path(
    shop_config: Path, tmp_path: Path, argv: list[str], message: str, capsys
) -> None:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder.csv").mkdir()
    args = [a.format(tmp=tmp_path) for a in argv]
    if args[0] != "report":
        args += ["--config", str(shop_config), "--as-of", "2024-03-01"][
            : 2 if args[0] == "segment" else 4
        ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err
    assert (tmp_path / "a_file").read_text() == "x" and not any(
        (tmp_path / "a_folder.csv").iterdir()
    )


@pytest.mark.parametrize("command", ["score", "features"])
def test_read_only_out_exits_2_before_any_work(
    shop_config: Path, tmp_path: Path, command: str, capsys
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked / ("new" if command == "score" else "f.parquet")
    with read_only(locked):
        code = main([command, "--config", str(shop_config), "--as-of", "2024-03-01",
                     "--out", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"--out {out} is not writable: cannot create files in {locked}" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()  # nothing started


# --------------------------------------------------------------------------- tracking store faults
def _score(config: Path, out: Path, as_of: str = "2024-03-01") -> list[str]:
    return ["score", "--config", str(config), "--as-of", as_of, "--out", str(out)]


def test_score_without_a_store_exits_4_and_creates_nothing(
    shop_config: Path, tmp_path: Path, capsys
) -> None:
    db = tmp_path / "runs" / "mlflow.db"
    assert main(_score(shop_config, tmp_path / "scores")) == 4
    err = capsys.readouterr().err
    assert f"error: no tracking store at {db}: expected the MLflow database" in err
    assert "segml train" in err and "Traceback" not in err
    assert not db.exists() and not (tmp_path / "scores" / "as_of=2024-03-01").exists()


def test_score_on_a_corrupt_store_exits_7_naming_it(
    shop_config: Path, tmp_path: Path, capsys
) -> None:
    db = tmp_path / "runs" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(b"\x00garbage" * 100)
    assert main(_score(shop_config, tmp_path / "scores")) == 7
    err = capsys.readouterr().err
    assert f"error: the tracking store {db} cannot be read: file is not a database" in err
    assert "unexpected" not in err and "Traceback" not in err
    assert db.read_bytes() == b"\x00garbage" * 100


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smallest store `segml score` can use: one purchase model (champion) on 300 synthetic
    customers; scoring skips clusters, reason codes and drift failures to stay fast."""
    from segml import tracking
    from segml.datasets import make_shop
    from tests.jobs.fixtures import TABLES, shop_config

    folder = tmp_path_factory.mktemp("trained")
    shop = make_shop(300, seed=11)
    for name in TABLES:
        getattr(shop, name).to_csv(folder / f"{name}.csv", index=False)
    config = shop_config(folder, 'training: {now: "2024-10-01", cutoffs: 2, lightgbm: '
                         "{n_estimators: 10}}", "scoring: {targets: [purchase], clusters: false, "
                         "reasons_for: none, fail_on_drift: false}")  # fmt: skip
    assert main(["train", "--config", str(config), "--target", "purchase"]) == 0
    uri = tracking.default_tracking_uri(folder / "runs")
    if tracking.find_model(tracking_uri=uri, name="segml-purchase", alias="champion") is None:
        tracking.set_alias(tracking_uri=uri, name="segml-purchase", alias="champion", version="1")
    return config


def _copy_store(config: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A config over the trained data whose tracking store is a copy in ``tmp_path`` (the copy
    still reads the models from the trained store's artifact folder)."""
    db = tmp_path / "mlflow.db"
    db.write_bytes((config.parent / "runs" / "mlflow.db").read_bytes())
    text = config.read_text() + f"tracking_uri: sqlite:///{db}\n"
    copy = config.with_name(f"shop-{tmp_path.name}.yaml")
    copy.write_text(text)
    return copy, db


def test_score_reads_read_only_model_artifacts(trained: Path, tmp_path: Path, capsys) -> None:
    """MLflow used to write registered_model_meta into the model folder while loading it."""
    models = trained.parent / "runs" / "mlartifacts" / "segml"  # models and training runs
    with read_only(models):
        code = main(_score(trained, tmp_path / "scores", as_of="2024-11-01"))
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "scores" / "as_of=2024-11-01" / "scores.parquet").exists()
    assert not list(models.rglob("registered_model_meta"))


def test_read_only_store_exits_7_before_publishing(trained: Path, tmp_path: Path, capsys) -> None:
    config, db = _copy_store(trained, tmp_path)
    with read_only(db):  # --quiet: no progress lines, so the message is all there is
        code = main(["--quiet", *_score(config, tmp_path / "scores", as_of="2024-11-01")])
    err = capsys.readouterr().err
    assert code == 7 and f"error: the tracking store {db} is read-only" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "scores" / "as_of=2024-11-01").exists()


def test_store_failing_after_publishing_is_a_warning_exit_8(
    trained: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """The store turns read-only between the check and the run's record (the check is skipped
    here to get there): the partition stays published, the job says so and exits 8."""
    import segml.jobs.score

    config, db = _copy_store(trained, tmp_path)
    monkeypatch.setattr(segml.jobs.score, "check_store", lambda *a, **k: None)
    with read_only(db):
        code = main(["--quiet", *_score(config, tmp_path / "scores", as_of="2024-11-01")])
    err = capsys.readouterr().err
    part = tmp_path / "scores" / "as_of=2024-11-01"
    assert code == 8 and err.startswith(f"warning: published {part} (complete and valid), but")
    assert f"the tracking store {db} is read-only" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in part.iterdir()) == ["_manifest.json", "drift.csv",
                                                      "scores.parquet"]  # fmt: skip
