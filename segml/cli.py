"""The ``segml`` command line. Errors print one clear message and exit with a documented code
(``segml.errors.EXIT_CODES``, listed in ``segml --help``); ``--debug`` adds the traceback."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from segml.config import Config, load_config
from segml.errors import ConfigError, SegmlError, format_exit_codes

app = typer.Typer(
    help="segml: customer features, propensity scores, segments and audiences for ecommerce.",
    epilog="\b\nExit codes:\n" + format_exit_codes(),
    rich_markup_mode=None,  # plain click help: flags show no <bool> metavar, defaults are shown
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"max_content_width": 100},
)
_STATE = {"debug": False}

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config (see configs/).")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="cutoff date: features use only rows before it")
]


def _show_version(value: bool) -> None:
    if value:
        from segml import __version__

        typer.echo(f"segml {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no progress; only warnings, errors, results")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="debug lines and third-party messages (MLflow, Optuna, ...)"
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    _STATE["debug"] = debug
    if ctx.invoked_subcommand is None:  # a bare `segml`: the help, and success
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if quiet and verbose:
        raise ConfigError("--quiet and --verbose contradict each other; pass one of them.")
    from segml import console

    level = console.QUIET if quiet else console.VERBOSE if verbose else console.NORMAL
    ctx.with_resource(console.session(verbosity=level, stream=sys.stderr))


def _started(command: str) -> None:
    """The first line of a command, before it imports what it needs (seconds on a busy
    machine): "segml <command> <version>"."""
    from segml import __version__

    logging.getLogger("segml").info("segml %s %s", command, __version__)


def _check_out(out: Path, *, folder: bool) -> None:
    """Refuse (exit 2), before any work, an ``--out`` the job could not write: a file where a
    folder is expected or the reverse, a path under a file, or a location this user cannot
    create files in (tried by creating and removing a probe folder)."""
    kind = "a folder" if folder else "a file path"
    if out.exists() and out.is_dir() != folder:
        found = "a folder" if out.is_dir() else "a file"
        raise ConfigError(f"--out {out} is {found}; expected {kind}. Choose another --out.")
    existing = (out if folder else out.parent).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"--out {out} cannot be created: {existing} exists and is not a folder. Choose "
            "a path under a folder."
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".segml-write-probe-", dir=existing))
    except OSError as err:
        raise ConfigError(
            f"--out {out} is not writable: cannot create files in {existing} "
            f"({err.strerror}). Choose a writable location or fix its permissions."
        ) from err


def _load(config: Path, *, engine: str | None = None) -> tuple[Config, Any]:
    from segml.progress import step

    with step("read and check the data"):  # first: the imports below take seconds
        from segml.jobs import load_shop

        return load_shop(load_config(config), engine=engine)


def _as_of(cfg: Config, as_of: str | None) -> str:
    from segml.jobs import cutoff

    return cutoff(cfg, as_of)


@app.command()
def validate(config: ConfigOpt, as_of: AsOfOpt = None) -> None:
    """Check the data against the contract and print the data-quality report."""
    _started("validate")
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
    _started("features")
    from segml.jobs.features import features_job

    if out.suffix.lower() not in {".parquet", ".csv"}:
        raise ConfigError(f"--out {out} must end in .parquet or .csv; found {out.suffix!r}.")
    _check_out(out, folder=False)
    cfg, shop = _load(config)
    started = time.perf_counter()
    table, builder = features_job(shop, cfg, as_of=_as_of(cfg, as_of), out=out)
    typer.echo(str(builder.quality_))
    typer.echo(
        f"wrote {table.height:,} customers x {table.width - 1} features to {out} "
        f"in {time.perf_counter() - started:.1f}s"
    )


@app.command(short_help="The whole job as of the cutoff: validate, train, cluster, score, segment.")
def run(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", help="folder of as_of=DATE partitions")] = Path(
        "runs/latest"
    ),
    as_of: AsOfOpt = None,
    tune: Annotated[int, typer.Option("--tune", help="Optuna trials per target")] = 0,
    wait: Annotated[bool, typer.Option("--wait", help="queue behind a running job")] = False,
) -> None:
    """The whole job: validate, train, cluster, score, segment (and report) as of the cutoff."""
    _started("run")
    from segml.jobs.run import run_pipeline
    from segml.jobs.summary import run_summary
    from segml.models.training import format_table

    _check_out(out, folder=True)
    cfg, shop = _load(config)
    typer.echo(str(shop.quality))
    result = run_pipeline(shop, cfg, as_of=_as_of(cfg, as_of), out=out, wait=wait, tune=tune)
    typer.echo(format_table([o.result for o in result["outcomes"]]))
    for o in result["outcomes"]:
        typer.echo(f"{o.result.target}: {o.note}")
    if result["clusters"] is not None:  # k, silhouette and stability, flagged when weak
        typer.echo(_clusters_line(result["clusters"].model.quality_))
    typer.echo("")
    _summary(run_summary(result).text())


def _summary(text: str) -> None:
    """The end-of-run summary on stdout; in a log (stderr not a terminal, and not the same
    file as stdout) also as timestamped lines, so a scheduler's log has it."""
    typer.echo(text)
    if not _same_file(sys.stdout, sys.stderr) and not _isatty(sys.stderr):
        logging.getLogger("segml.summary").info("%s", text)


def _echo(line: str) -> None:
    """A result line on stdout while steps run: above the live status line on a terminal."""
    from segml.console import echo

    echo(line, sys.stdout)


def _isatty(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def _same_file(a: Any, b: Any) -> bool:
    try:
        sa, sb = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (OSError, AttributeError, ValueError):  # pytest's capture has no file descriptor
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _clusters_line(quality: dict[str, Any]) -> str:
    """The run summary's clustering line: k, silhouette, stability and the flags."""
    sil, stab = quality.get("silhouette"), quality.get("stability")
    flags = [f"k at the {quality['k_at_edge']} edge"] if quality.get("k_at_edge") else []
    flags += ["WEAK STRUCTURE"] if quality.get("weak_structure") else []
    return (
        f"clusters:  k = {quality['k']} (searched {quality['k_range'][0]}..{quality['k_range'][1]})"
        f", silhouette {'n/a' if sil is None else f'{sil:.3f}'}"
        f", stability {'n/a' if stab is None else f'{stab:.3f}'}"
        + (f"; {', '.join(flags)}" if flags else "")
    )


@app.command(short_help="Rule-based segments and audiences per channel; or a campaign readout.")
def segment(
    config: ConfigOpt,
    scores: Annotated[
        Path | None, typer.Option("--scores", help="features + scores, one row per customer")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="run folder, replaced atomically (with --readout: a file)"),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="rule-set YAML (default: segments: in config)")
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option("--previous", help="an earlier run folder: transitions and size changes"),
    ] = None,
    readout_run: Annotated[
        Path | None,
        typer.Option("--readout", help="read out a run folder: treatment vs control per segment"),
    ] = None,
    orders: Annotated[
        Path | None, typer.Option("--orders", help="with --readout: orders (default: the config's)")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="campaign window start")] = None,
    end: Annotated[str | None, typer.Option("--end", help="window end (exclusive)")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="the date days_since() counts to (the scores' cutoff)"),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="print what each destination would write; write nothing"),
    ] = False,
) -> None:
    """Assign rule-based segments with control groups and write the audiences per channel to the
    config's exports destinations; or, with --readout RUN --start D --end D, compare treatment
    with control after the campaign."""
    _started("segment")
    cfg = load_config(config)
    if out is not None:
        _check_out(out, folder=readout_run is None)
    if readout_run is not None:
        _segment_readout(cfg, readout_run, orders=orders, start=start, end=end, out=out)
        return
    from segml.jobs.segment import segment_job
    from segml.progress import step

    if scores is None or (out is None and not dry_run):
        raise ConfigError(
            "segml segment needs --scores PATH and --out DIR (or --dry-run, or --readout RUN)."
        )
    if dry_run or out is None:
        _segment_plan(scores, rules=rules, as_of=as_of, cfg=cfg, source=config)
        return
    with step("segments"):
        result = segment_job(
            cfg, scores=scores, out=out, rules=rules, previous=previous, as_of=as_of, source=config
        )
    typer.echo(str(result.report))
    names = [d.name or d.type for d in cfg.exports.destinations]
    audiences = sum(len(r.channels) for r in result.result.rule_set.segments)
    typer.echo(
        f"wrote {audiences} audiences to {', '.join(names)}, members.parquet, report.json and "
        f"_manifest.json to {result.path}"
    )


def _segment_plan(
    scores: Path, *, rules: Path | None, as_of: str | None, cfg: Config, source: Path
) -> None:
    import polars as pl

    from segml.jobs.segment import segment_plan

    plan, notes = segment_plan(cfg, scores=scores, rules=rules, as_of=as_of, source=source)
    with pl.Config(
        tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=100,
        tbl_hide_dataframe_shape=True,
    ):  # fmt: skip
        typer.echo(str(plan.drop("columns")))  # each destination's columns: in its note
    for note in notes:
        typer.echo(note)
    typer.echo(f"dry run: {plan.height} files, {plan['rows'].sum():,} rows; nothing written.")


def _segment_readout(
    cfg: Config,
    run: Path,
    *,
    orders: Path | None,
    start: str | None,
    end: str | None,
    out: Path | None,
) -> None:
    from segml.io import write_frame
    from segml.jobs.segment import readout_job

    if start is None or end is None:
        raise ConfigError("--readout needs the campaign window: --start DATE --end DATE.")
    result = readout_job(cfg, run, orders=orders, start=start, end=end)
    import polars as pl

    frame = pl.from_pandas(result) if not isinstance(result, pl.DataFrame) else result
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=40):
        typer.echo(
            str(
                frame.select(
                    "segment",
                    "n_treatment",
                    "n_control",
                    "^conversion_.*$",
                    "^revenue_lift.*$",
                    "revenue_p_value",
                )
            )
        )
    if out is not None:
        write_frame(frame, out)
        typer.echo(f"wrote the readout to {out}")


@app.command(short_help="Train propensity models; print the backtest vs baselines and the run ids.")
def train(
    config: ConfigOpt,
    target: Annotated[
        str,
        typer.Option(
            "--target", help="a registered target (e.g. next_order), or all: purchase, lapse, value"
        ),
    ] = "all",
    tune: Annotated[int, typer.Option("--tune", help="Optuna trials per target (0: none)")] = 0,
    now: Annotated[
        str | None, typer.Option("--now", help="training date (default training.now or today)")
    ] = None,
) -> None:
    """Train propensity models on rolling cutoffs; print the backtest vs baselines and run ids."""
    _started("train")
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin
    from segml.jobs.train import train_job
    from segml.models.training import format_table
    from segml.targets import get as target_spec
    from segml.targets import names as target_names

    # "all": the propensity targets; a time-to-event one (next_order) trains when named
    every = [t for t in target_names() if not target_spec(t).is_time_to_event]
    targets: list[str] = every if target == "all" else [target]
    if any(t not in target_names() for t in targets):
        raise ConfigError(f"--target must be one of {[*target_names(), 'all']}; got {target!r}.")
    if tune < 0:
        raise ConfigError(f"--tune must be >= 0; got {tune}.")
    cfg, shop = _load(config)
    outcomes = train_job(shop, cfg, now=now, targets=targets, tune=tune)
    typer.echo(format_table([o.result for o in outcomes]))
    for o in outcomes:
        typer.echo(f"{o.result.target}: run {o.run_id}, model version {o.version}; {o.note}")


@app.command()
def cluster(config: ConfigOpt, as_of: AsOfOpt = None) -> None:
    """Cluster customers into named segments; print k, the metrics and the profile table."""
    _started("cluster")
    from segml.clusters.job import summary_metrics
    from segml.clusters.profiles import format_profile
    from segml.jobs.cluster import cluster_job

    cfg, shop = _load(config)
    result = cluster_job(shop, cfg, as_of=_as_of(cfg, as_of))
    model = result.model
    how = "fixed" if model.k_selection_ is None else f"chosen by {model.selection_rule}"
    typer.echo(f"k = {model.n_clusters_} ({model.algorithm}, {how})")
    if model.k_selection_ is not None:
        typer.echo(model.k_selection_.round(3).to_string(index=False))
    typer.echo(json.dumps({k: round(v, 4) for k, v in summary_metrics(model).items()}))
    typer.echo(format_profile(model.profile_))
    if model.dropped_features_:
        typer.echo(f"features left out: {model.dropped_features_}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    if result.transitions is not None:
        typer.echo(f"moved since version {result.previous_version}:")
        typer.echo(result.transitions.to_string())
    ref = result.model_ref
    typer.echo(f"registered {ref.name} version {ref.version} (alias champion), run {ref.run_id}")


@app.command(short_help="Score every customer with the champion models and write the partition.")
def score(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", help="folder of as_of=DATE partitions")],
    as_of: AsOfOpt = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="polars (default) or spark")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="queue behind a running job")] = False,
    allow_future_models: Annotated[
        bool,
        typer.Option(
            "--allow-future-models",
            help="score even with models trained on data past --as-of (a backfill that uses "
            "the future; recorded in the manifest). Without it such a run exits 9.",
        ),
    ] = False,
) -> None:
    """Score every customer with the champion models, apply the rule set, write the partition."""
    _started("score")
    from segml.jobs.score import score_and_report

    _check_out(out, folder=True)
    cfg, shop = _load(config, engine=engine)
    manifest = score_and_report(
        shop,
        cfg,
        as_of=_as_of(cfg, as_of),
        out=out,
        wait=wait,
        allow_future_models=allow_future_models,
    )
    for f in manifest["point_in_time"]["future_models"]:
        note = f"trained on data up to {f['data_end'][:10]}, after the as-of"
        typer.echo(
            f"warning: {f['name']} version {f['version']} {note} (--allow-future-models)", err=True
        )
    typer.echo(str(shop.quality))
    typer.echo(
        json.dumps({k: manifest[k] for k in ("as_of", "models", "rows_out", "drift")}, indent=2)
    )
    for note in manifest.get("outputs", {}).get("notes", []):
        typer.echo(f"note: {note}")
    typer.echo(f"results: {out / ('as_of=' + manifest['as_of'][:10])}")


@app.command(short_help="Write one self-contained HTML report of a run.")
def report(
    run_dir: Annotated[
        Path,
        typer.Option(
            "--run",
            help="a run partition as_of=DATE/ (of segml score or segml run), "
            "or the folder of partitions: its latest one",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file (default: <run>/report.html)")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="config: its tracking store and names")
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow store (default: from --config, "
            "else the mlflow.db in the run folder or its parents)",
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="run to compare with (default: the latest earlier as_of=DATE beside it)",
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML report of a run: data quality, backtests, plots, clusters,
    rule segments and drift (sections whose inputs are absent say so)."""
    _started("report")
    from segml.progress import step

    if out is not None:
        _check_out(out, folder=False)
    cfg = load_config(config) if config is not None else None
    with step("report"):
        from segml.jobs.segment import report_job

        path = report_job(run_dir, cfg=cfg, out=out, tracking=tracking_uri, previous=previous)
    typer.echo(f"report: {path}")


@app.command()
def backtest(
    config: ConfigOpt,
    dates: Annotated[
        str, typer.Option("--dates", help="scoring dates S1,S2,... (YYYY-MM-DD, comma-separated)")
    ],
    target: Annotated[
        str, typer.Option("--target", help="a registered target, or all (next_order included)")
    ] = ("purchase"),
    horizon: Annotated[
        str | None, typer.Option("--horizon", help="days (default: the config's, per target)")
    ] = None,
    cutoffs: Annotated[int, typer.Option("--cutoffs", help="training cutoffs per date")] = 6,
    n_boot: Annotated[int, typer.Option("--n-boot", help="bootstrap resamples")] = 300,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder for the CSV tables (optional)")
    ] = None,
) -> None:
    """Backtest at scoring dates vs BG/NBD and RFM, with bootstrap intervals and verdicts.

    At each date: train on the rows before it only (all label windows closed by it), score the
    customers known at it, evaluate on the horizon after it. Prints per date and pooled.
    """
    _started("backtest")
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from segml.io import write_frame
    from segml.jobs.backtest import backtest_job
    from segml.targets import names as target_names

    names: list[str] = list(target_names()) if target == "all" else [target]
    if any(t not in target_names() for t in names):
        raise ConfigError(f"--target must be one of {[*target_names(), 'all']}; got {target!r}.")
    cfg, shop = _load(config)
    result = backtest_job(
        shop,
        cfg,
        dates=[d.strip() for d in dates.split(",") if d.strip()],
        targets=names,
        horizon=horizon,
        n_cutoffs=cutoffs,
        n_boot=n_boot,
        progress=_echo,
    )
    typer.echo("pooled over dates (model minus baseline, better is positive, 95% interval):")
    typer.echo(result.summary())
    if out is not None:
        for name in ("table", "comparisons", "pooled", "plans"):
            write_frame(getattr(result, name), out / f"{name}.csv")
        typer.echo(f"tables: {out}/{{table,comparisons,pooled,plans}}.csv")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn errors into a message and an exit code (EXIT_CODES)."""
    _STATE["debug"] = False
    try:
        app(args=argv, prog_name="segml", standalone_mode=False)
    except SegmlError as err:
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"{err.severity}: {err}", err=True)
        return err.exit_code
    except typer.Exit as ex:
        return int(ex.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except typer.TyperException as err:  # click's usage errors: the usage line, then the error
        show = getattr(err, "show", None)
        if show is None:
            typer.echo(f"error: {err.format_message()}", err=True)
        else:
            show()
        return 2 if err.exit_code in (0, 1) else err.exit_code
    except Exception as err:  # anything unexpected
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"error: unexpected {type(err).__name__}: {err} (rerun with --debug)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
