"""A training run for several targets: fit, backtest, log to MLflow, register, promote.

Per target one MLflow run logs the parameters, the training span and size, every backtest
metric of the model and of both baselines (``model_*``, ``rfm_*``, ``btyd_*``), the decile and
reliability tables, plots (calibration, lift/gain, SHAP summary), and the model as a
models-from-code pyfunc (``segml/models/pyfunc_model.py`` + LightGBM's model text + JSON).
The model is registered as ``<prefix>-<target>``; ``champion`` moves to it only when it wins
beyond the noise (``segml.models.promotion``: no loss to either baseline, a win over the current
champion rescored with its own inputs on the same backtest rows), else it gets ``challenger``
(never both). The decision, both models' metrics, the rows and the margin are set as tags and
the description of the new version (``promotion.*``), with its training span
(``training.data_end``: the end of the last label window the run read).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from segml import targets as target_registry
from segml import tracking
from segml.errors import ModelNotFoundError
from segml.features import FeatureBuilder
from segml.labels import label_window_end
from segml.models.dataset import CutoffCache
from segml.models.diagnostics import DIAGNOSTICS_ARTIFACT, btyd_diagnostics
from segml.models.explain import shap_summary_figure
from segml.models.leaderboard import WINNERS_ARTIFACT, metric_winners
from segml.models.metrics import gain_at, gain_curve
from segml.models.palette import model_style
from segml.models.promotion import Decision, PromotionRule, decide_dates
from segml.models.promotion_dates import champion_dates, date_scores, earlier_backtests
from segml.models.timing import next_order_columns
from segml.models.training import TargetResult, fit_target
from segml.models.tuning import make_tuner
from segml.progress import step, track
from segml.schema import ShopData

__all__ = ["TrainOutcome", "train_models"]

_CODE = Path(__file__).with_name("pyfunc_model.py")


@dataclasses.dataclass
class TrainOutcome:
    result: TargetResult
    run_id: str | None = None
    model_uri: str | None = None
    version: str | None = None
    champion: bool = False
    note: str = ""
    decision: Decision | None = None  # the champion/challenger decision, when tracked
    reference: dict[str, Any] | None = None  # drift reference, logged with the model


def train_models(
    shop: ShopData,
    *,
    now: Any,
    targets: Mapping[str, Mapping[str, float]],
    n_cutoffs: int = 6,
    cutoff_step: str = "monthly",
    feature_params: Mapping[str, Any] | None = None,
    model_params: Mapping[str, Any] | None = None,
    tune_trials: int = 0,
    study_storage: str | None = None,
    seed: int = 0,
    tracking_uri: str | None = None,
    experiment: str = "segml",
    registry_prefix: str = "segml",
    data_name: str = "data",
    promotion: PromotionRule | None = None,
) -> list[TrainOutcome]:
    """Train each target in ``targets`` (name -> ``horizon_days``, ``lookback_days``, optional
    ``refit`` 0/1); cutoffs on a ``cutoff_step`` grid ("monthly" or "semimonthly").

    With ``tracking_uri`` None nothing is logged. ``tune_trials`` > 0 runs an Optuna study per
    target in ``study_storage`` before the final fit (not for a time-to-event target: its
    model keeps the run's LightGBM settings). ``promotion``: the champion/challenger
    thresholds (``segml.models.promotion.PromotionRule``; default ``PromotionRule()``).
    """
    horizons = sorted({float(spec["horizon_days"]) for spec in targets.values()})
    first_test = min(_test_cutoff(now, spec["horizon_days"]) for spec in targets.values())
    with step("fit features"):
        builder = FeatureBuilder(**dict(feature_params or {})).fit(shop, as_of=first_test)
    cache = CutoffCache(shop, builder, horizons=horizons, seed=seed)
    params = {"random_state": seed} | dict(model_params or {})
    outcomes = []
    for target, spec in track(targets.items(), "train", total=len(targets), unit="targets"):
        tune = None
        if tune_trials > 0 and not target_registry.get(target).is_time_to_event:  # no tuner
            btyd = "btyd" if target_registry.get(target).btyd else None  # as fit_target
            start = {"baseline": btyd, "horizon_days": spec["horizon_days"]}
            tune = make_tuner(
                target=target,
                n_trials=tune_trials,
                seed=seed,
                base_params=start | params,
                storage=study_storage or "sqlite:///optuna.db",
                study_name=f"{registry_prefix}-{data_name}-{target}",
            )
        recipe: dict[str, Any] = {
            "target": target,
            "n_cutoffs": n_cutoffs,
            "horizon_days": spec["horizon_days"],
            "lookback_days": spec.get("lookback_days", 365),
            "step": cutoff_step,
            "refit": bool(spec.get("refit", False)),
        }
        result = fit_target(cache, now=now, model_params=params, tune=tune, **recipe)
        result.model.metadata_ |= {
            "features": {**builder.feature_settings(), "categories": builder.categories_},
            "btyd_horizons": horizons,
            # what the backfill guard of `segml score` reads: no label the run read ends later
            "data_end": f"{label_window_end(result.split.test, result.split.horizon_days):%FT%T}",
        }
        # the reference is the whole scoring population at the backtest cutoff, not only the
        # target's rows (lapse models only active buyers, but every customer gets scored)
        outcome = TrainOutcome(
            result, reference=_reference(result, cache.features(result.split.test))
        )
        if tracking_uri:
            rule = promotion or PromotionRule()
            recipe["model_params"] = params | result.tuned_params
            with step(f"{target} log to MLflow, promotion"):
                _log(
                    outcome,
                    cache=cache,
                    tracking_uri=tracking_uri,
                    experiment=experiment,
                    name=f"{registry_prefix}-{target}",
                    data_name=data_name,
                    rule=rule,
                    earlier=earlier_backtests(cache, result, dates=rule.dates, recipe=recipe),
                )
        outcomes.append(outcome)
    return outcomes


def _test_cutoff(now: Any, horizon: float) -> Any:
    from segml.labels import monthly_cutoffs

    return monthly_cutoffs(now=now, horizon_days=horizon, n_cutoffs=1)[0]


def _log(
    outcome: TrainOutcome,
    *,
    cache: CutoffCache,
    tracking_uri: str,
    experiment: str,
    name: str,
    data_name: str,
    rule: PromotionRule,
    earlier: tuple[list[TargetResult], list[str]] = ([], []),
) -> None:
    r = outcome.result
    with tracking.start_run(
        tracking_uri=tracking_uri,
        experiment=experiment,
        run_name=f"{r.target}-{r.split.test:%Y-%m-%d}",
        tags={"target": r.target, "data": data_name},
    ) as run:
        outcome.run_id = run.run_id
        run.params(
            {
                **r.model.get_params(),
                **r.split.as_dict(),
                **r.rows,
                "best_iteration": r.model.best_iteration_,
                "calibration": getattr(r.model, "calibrator_", {"method": "none"})["method"],
                "data": data_name,
            }
        )
        run.metrics({f"{who}_{k}": v for who, m in r.metrics.items() for k, v in m.items()})
        run.metrics({"beats_baselines": float(r.beats_baselines), "train_seconds": r.seconds})
        run.metrics(_versus_metrics(r))
        for key, table in r.tables().items():
            run.json(table.to_dicts(), f"tables/{key}.json")
        run.json(metric_winners(r.test_frame, target=r.target), WINNERS_ARTIFACT)
        test_rows = r.test_rows
        if not target_registry.get(r.target).is_time_to_event:  # no calibration, gain or SHAP
            _plots(run, r, test_rows)
        if "btyd" in target_registry.get(r.target).baselines:
            run.json(_btyd_diagnostics(r, cache), DIAGNOSTICS_ARTIFACT)
        if outcome.reference is not None:
            run.json(outcome.reference, REFERENCE_ARTIFACT)
        decision = _promote(
            r, cache, tracking_uri=tracking_uri, name=name, rule=rule, earlier=earlier
        )
        run.json(decision.as_record(), "tables/promotion.json")
        run.tags(decision.tags())
        run.metrics({"promoted": float(decision.promote)})
        outcome.model_uri = _log_model(r, test_rows, cache)
    ref = tracking.register_model(tracking_uri=tracking_uri, model_uri=outcome.model_uri, name=name)
    outcome.version, outcome.champion, outcome.note = ref.version, decision.promote, decision.reason
    outcome.decision = decision
    _record(decision, r, version=ref.version, tracking_uri=tracking_uri, name=name)


def _versus_metrics(r: TargetResult) -> dict[str, float]:
    """``vs_<baseline>_<metric>_{diff,low,high}`` and ``_verdict`` (1 beats, 0 ties, -1 loses):
    the model minus each baseline with its interval, what the report's verdict reads."""
    code = {"beats": 1.0, "ties": 0.0, "loses": -1.0}
    out: dict[str, float] = {}
    for who, pair in r.versus.items():
        for metric, c in pair.items():
            key = f"vs_{who}_{metric}"
            values = {"diff": c.diff, "low": c.low, "high": c.high, "verdict": code[c.verdict]}
            out |= {f"{key}_{k}": float(v) for k, v in values.items() if np.isfinite(v)}
    return out


def _record(
    decision: Decision, r: TargetResult, *, version: str, tracking_uri: str, name: str
) -> None:
    """The decision and the training span on the new version; then the aliases: ``champion``
    on it when promoted (and ``challenger`` removed), else ``challenger`` on it: never both."""
    meta = r.model.metadata_
    span = {"training.data_end": meta["data_end"], "training.test_cutoff": meta["test_cutoff"]}
    text = decision.description(cutoff=meta["test_cutoff"])
    tracking.set_version_tags(
        tracking_uri=tracking_uri,
        name=name,
        version=version,
        tags=decision.tags() | span,
        description=text,
    )
    if not decision.promote:
        tracking.set_alias(
            tracking_uri=tracking_uri, name=name, alias="challenger", version=version
        )
        return
    if decision.champion_version is not None:
        tracking.set_version_tags(
            tracking_uri=tracking_uri,
            name=name,
            version=decision.champion_version,
            tags={"promotion.replaced_by": version},
        )
    tracking.set_alias(tracking_uri=tracking_uri, name=name, alias="champion", version=version)
    tracking.delete_alias(tracking_uri=tracking_uri, name=name, alias="challenger")


REFERENCE_ARTIFACT = "reference/profile.json"


def _btyd_diagnostics(r: TargetResult, cache: CutoffCache) -> dict[str, Any]:
    """The BG/NBD calibration/holdout diagnostics on the backtest split: fitted on the rows
    before the test cutoff, checked on its label window (``segml.models.diagnostics``)."""
    return btyd_diagnostics(
        cache.shop,
        cutoff=r.split.test,
        holdout_days=r.split.horizon_days,
        max_fit_rows=cache.max_fit_rows,
        seed=cache.seed,
    )


def _reference(r: TargetResult, population: Any) -> dict[str, Any]:
    """The training reference that scoring jobs check drift against: the distribution of every
    model input and of the score over all customers known at the backtest cutoff."""
    from segml.monitoring import reference_profile

    inputs = population.select(r.model.feature_names_in_)
    frame = inputs.to_pandas()
    if target_registry.get(r.target).is_time_to_event:  # the median days, as scored
        days = next_order_columns(population, r.model, as_of=r.split.test, name=r.target)
        frame[f"{r.target}__days"] = days[f"{r.target}__days"].to_numpy()
    else:
        frame[f"score__{r.target}"] = r.model.predict_score(inputs)
    return reference_profile(frame, seed=0)


def _log_model(r: TargetResult, test_rows: Any, cache: CutoffCache) -> str:
    """The model, the BG/NBD fit a served copy applies to feature tables (as of the end of
    the data the run read) and segml's source with its pinned dependencies (MLflow
    ``code_paths`` and ``pip_requirements``: ``segml.models.environment``)."""
    import json

    from segml.models.dataset import btyd_fit
    from segml.models.environment import segml_source, serving_requirements
    from segml.models.serving import request_example

    fit = btyd_fit(
        cache.shop,
        r.model.metadata_["data_end"],
        horizons=cache.horizons,
        max_fit_rows=cache.max_fit_rows,
        seed=cache.seed,
    )
    example, optional = request_example(
        test_rows.head(5), r.model, shop=cache.shop, cutoff=r.split.test
    )
    code, params, output = _served(r, example)
    with tempfile.TemporaryDirectory() as tmp:
        folder = r.model.save(Path(tmp) / "model")
        fit_file = Path(tmp) / "btyd_fit.json"
        fit_file.write_text(json.dumps(fit, indent=2), encoding="utf-8")
        return tracking.log_code_model(
            code_path=code,
            artifacts={"model": folder, "btyd": fit_file},
            input_example=example,
            output_example=output,
            params=params,
            pip_requirements=serving_requirements(),
            code_paths=[segml_source(Path(tmp) / "code")],
            optional_columns=optional,
        )


def _served(r: TargetResult, example: Any) -> tuple[Path, dict[str, Any], Any]:
    """The pyfunc code file, its params and an output example: ``pyfunc_model.py`` (scores
    and reason codes) or for a time-to-event target ``pyfunc_timing.py`` (its columns)."""
    if not target_registry.get(r.target).is_time_to_event:
        output = example[["customer_id"]].assign(**{f"score__{r.target}": 0.5})
        output[f"reasons__{r.target}"] = "[]"
        return _CODE, {"reasons_top_k": 0}, output
    as_of = f"{r.split.test:%Y-%m-%d}"
    cols = next_order_columns(r.test_rows.head(len(example)), r.model, as_of=as_of, name=r.target)
    cols = cols.with_columns(pl.col("customer_id").cast(pl.String))
    return _CODE.with_name("pyfunc_timing.py"), {"as_of": ""}, cols.to_pandas()


def _promote(
    r: TargetResult,
    cache: CutoffCache,
    *,
    tracking_uri: str,
    name: str,
    rule: PromotionRule,
    earlier: tuple[list[TargetResult], list[str]] = ([], []),
) -> Decision:
    """Challenger vs the baselines and the registered champion, pooled over the backtest dates
    (``earlier`` ones and ``r``'s), the champion rescored with its own inputs on the
    challenger's rows at each date (``segml.models.promotion``)."""
    results, skipped = [*earlier[0], r], list(earlier[1])
    kw: dict[str, Any] = {"target": r.target, "rule": rule}
    current = tracking.find_model(tracking_uri=tracking_uri, name=name, alias="champion")
    if current is None:
        return _noted(decide_dates([date_scores(x) for x in results], **kw), skipped)
    try:
        pyfunc, _ = tracking.load_pyfunc(tracking_uri=tracking_uri, name=name, alias="champion")
        champion = pyfunc.unwrap_python_model().model
        dates, notes = champion_dates(champion, results, cache)
    except ModelNotFoundError as err:  # an old model format: the scoring job cannot load it either
        decision = decide_dates([date_scores(x) for x in results], **kw)
        decision.notes.append(
            f"Champion v{current.version} is not a loadable segml model "
            f"({_first_line(err)}); judged against the baselines only."
        )
        decision.reason += f" (champion v{current.version} cannot be loaded)"
        return _noted(decision, skipped)
    except Exception as err:  # inputs the data no longer gives, a store that does not answer
        decision = decide_dates([date_scores(x) for x in results], **kw)
        decision.promote = False
        decision.reason = (
            f"champion v{current.version} cannot be rescored with the inputs it was trained "
            f"with ({_first_line(err)}). Champion unchanged; compare by hand and move the alias "
            f"with MlflowClient().set_registered_model_alias({name!r}, 'champion', VERSION)."
        )
        return _noted(decision, skipped)
    decision = decide_dates(dates, champion_version=current.version, **kw)
    decision.notes += notes + _champion_notes(champion.metadata_, r)
    return _noted(decision, skipped)


def _noted(decision: Decision, skipped: list[str]) -> Decision:
    decision.notes += skipped
    return decision


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0][:300] if str(err) else type(err).__name__


def _champion_notes(meta: Mapping[str, Any], r: TargetResult) -> list[str]:
    """What makes the comparison less than like for like, said in the record."""
    notes = []  # a champion trained after a backtest date: see _champion_dates
    if float(meta.get("horizon_days", r.split.horizon_days)) != r.split.horizon_days:
        notes.append(
            f"The champion predicts a {float(meta['horizon_days']):g}-day horizon; "
            f"both are scored on the challenger's {r.split.horizon_days:g}-day labels."
        )
    return notes


def _plots(run: Any, r: TargetResult, test_rows: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = r.tables()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    y = r.test_frame["label"].to_numpy()
    classifier = target_registry.get(r.target).is_classifier
    for who in r.who:
        label, color = model_style(who)
        if classifier:
            rel = tables[f"reliability_{who}"]
            axes[0].plot(rel["predicted"], rel["observed"], marker="o", label=label, color=color)
        else:
            dec = tables[f"deciles_{who}"]
            axes[0].plot(dec["pred_mean"], dec["actual_mean"], marker="o", label=label, color=color)
        # the expected gain at each share of customers (ties split proportionally), not a
        # point per decile label placed by position
        share, gain = gain_curve(y, r.test_frame[f"score__{who}"].to_numpy())
        grid = np.linspace(0, 1, 201)
        axes[1].plot(grid, np.interp(grid, share, gain), label=label, color=color)
        axes[1].plot(
            0.1, gain_at(y, r.test_frame[f"score__{who}"].to_numpy(), 0.1), "o", color=color
        )
    lim = axes[0].get_xlim()
    axes[0].plot(lim, lim, "k--", lw=0.8)
    axes[0].set(
        title="calibration" if classifier else "decile calibration",
        xlabel="predicted",
        ylabel="observed",
    )
    axes[1].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[1].axvline(0.1, color="grey", lw=0.6, ls=":")
    axes[1].set(
        title="cumulative gain (dot: top 10%)",
        xlabel="share of customers (by score)",
        ylabel="share of positives / revenue",
    )
    for ax in axes:
        ax.legend()
    run.figure(fig, "plots/calibration_gain.png")
    plt.close(fig)
    shap_fig = shap_summary_figure(r.model, test_rows)
    run.figure(shap_fig, "plots/shap_summary.png")
    plt.close(shap_fig)
