"""The ``segml`` command line. Errors print one clear message and exit non-zero; ``--debug``
adds the traceback. Exit codes: 0 success, 1 unexpected error, 2 bad config or usage,
3 bad input data, 4 missing model."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from segml.config import Config, load_config
from segml.errors import ConfigError, SegmlError

app = typer.Typer(
    help="segml: customer features, propensity scores, segments and audiences for ecommerce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_STATE = {"debug": False}

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config (see configs/).")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="cutoff date: features use only rows before it")
]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    _STATE["debug"] = debug


def _as_of(cfg: Config, as_of: str | None) -> str:
    value = as_of or cfg.job.as_of
    if not value:
        raise ConfigError(
            "no cutoff: pass --as-of DATE (or set job.as_of in the config). segml never "
            "defaults the cutoff to the latest timestamp in the data."
        )
    return value


def _load(config: Path) -> tuple[Config, Any]:
    from segml.datasets import load_tables
    from segml.schema import prepare

    cfg = load_config(config)
    return cfg, prepare(load_tables(cfg), config=cfg)


@app.command()
def validate(config: ConfigOpt, as_of: AsOfOpt = None) -> None:
    """Check the data against the contract and print the data-quality report."""
    cfg, shop = _load(config)
    if as_of or cfg.job.as_of:
        shop.check_cutoff(_as_of(cfg, as_of))
    typer.echo(str(shop.quality))
    typer.echo(f"ok: {', '.join(sorted(shop.tables()))} match the data contract")


@app.command()
def features(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", help="output file (.parquet or .csv)")],
    as_of: AsOfOpt = None,
) -> None:
    """Build one row of features per customer as of the cutoff and write them atomically."""
    from segml.jobs import build_feature_table

    cfg, shop = _load(config)
    started = time.perf_counter()
    table, builder = build_feature_table(shop, cfg, as_of=_as_of(cfg, as_of))
    from segml.io import write_frame

    write_frame(table, out)
    typer.echo(str(builder.quality_))
    typer.echo(
        f"wrote {table.height:,} customers x {table.width - 1} features to {out} "
        f"in {time.perf_counter() - started:.1f}s"
    )


@app.command()
def run(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", help="run folder")] = Path("runs/latest"),
    as_of: AsOfOpt = None,
) -> None:
    """The main job: validate the data, build features as of the cutoff, write the run folder."""
    from segml.jobs import run_job

    cfg, shop = _load(config)
    result = run_job(shop, cfg, as_of=_as_of(cfg, as_of), out=out)
    typer.echo(str(result["quality"]))
    typer.echo(json.dumps(result["summary"], indent=2))
    typer.echo(f"results: {result['path']}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn segml's errors into a message and an exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except SegmlError as err:
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except typer.Exit as ex:
        return int(ex.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except Exception as err:  # click usage errors and anything unexpected
        import click

        if isinstance(err, click.ClickException):
            err.show()
            return 2
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"error: unexpected {type(err).__name__}: {err} (rerun with --debug)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
