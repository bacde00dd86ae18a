"""A training run for several targets: fit, backtest, log to MLflow, register, promote.

Per target one MLflow run logs the parameters, the training span and size, every backtest
metric of the model and of both baselines (``model_*``, ``rfm_*``, ``btyd_*``), the decile and
reliability tables, plots (calibration, lift/gain, SHAP summary), and the model as a
models-from-code pyfunc (``segml/models/pyfunc_model.py`` + LightGBM's model text + JSON).
The model is registered as ``<prefix>-<target>`` with alias ``challenger``; ``champion`` moves
to it only when it beats both baselines and the current champion, scored on the same latest
backtest rows.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segml import tracking
from segml.features import FeatureBuilder
from segml.models.dataset import CutoffCache
from segml.models.explain import shap_summary_figure
from segml.models.metrics import beats, metrics_for
from segml.models.propensity import feature_columns
from segml.models.training import TargetResult, fit_target
from segml.models.tuning import make_tuner
from segml.schema import ShopData

__all__ = ["TrainOutcome", "train_from_config", "train_models"]

_CODE = Path(__file__).with_name("pyfunc_model.py")


@dataclasses.dataclass
class TrainOutcome:
    result: TargetResult
    run_id: str | None = None
    model_uri: str | None = None
    version: str | None = None
    champion: bool = False
    note: str = ""
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
) -> list[TrainOutcome]:
    """Train each target in ``targets`` (name -> ``horizon_days``, ``lookback_days``, optional
    ``refit`` 0/1); cutoffs on a ``cutoff_step`` grid ("monthly" or "semimonthly").

    With ``tracking_uri`` None nothing is logged. ``tune_trials`` > 0 runs an Optuna study per
    target in ``study_storage`` before the final fit.
    """
    horizons = sorted({float(spec["horizon_days"]) for spec in targets.values()})
    first_test = min(_test_cutoff(now, spec["horizon_days"]) for spec in targets.values())
    builder = FeatureBuilder(**dict(feature_params or {})).fit(shop, as_of=first_test)
    cache = CutoffCache(shop, builder, horizons=horizons, seed=seed)
    params = {"random_state": seed} | dict(model_params or {})
    outcomes = []
    for target, spec in targets.items():
        tune = None
        if tune_trials > 0:
            start = {"baseline": "btyd", "horizon_days": spec["horizon_days"]}  # as fit_target
            tune = make_tuner(target=target, n_trials=tune_trials, seed=seed,
                              base_params=start | params,
                              storage=study_storage or "sqlite:///optuna.db",
                              study_name=f"{registry_prefix}-{data_name}-{target}")  # fmt: skip
        result = fit_target(cache, target=target, now=now, n_cutoffs=n_cutoffs,
                            horizon_days=spec["horizon_days"],
                            lookback_days=spec.get("lookback_days", 365),
                            step=cutoff_step, refit=bool(spec.get("refit", False)),
                            model_params=params, tune=tune)  # fmt: skip
        result.model.metadata_ |= {
            "features": {**builder.get_params(), "categories": builder.categories_},
            "btyd_horizons": horizons,
        }
        # the reference is the whole scoring population at the backtest cutoff, not only the
        # target's rows (lapse models only active buyers, but every customer gets scored)
        outcome = TrainOutcome(
            result, reference=_reference(result, cache.features(result.split.test))
        )
        if tracking_uri:
            _log(outcome, tracking_uri=tracking_uri, experiment=experiment,
                 name=f"{registry_prefix}-{target}", data_name=data_name)  # fmt: skip
        outcomes.append(outcome)
    return outcomes


def _test_cutoff(now: Any, horizon: float) -> Any:
    from segml.labels import monthly_cutoffs

    return monthly_cutoffs(now=now, horizon_days=horizon, n_cutoffs=1)[0]


def _log(
    outcome: TrainOutcome, *, tracking_uri: str, experiment: str, name: str,
    data_name: str,
) -> None:  # fmt: skip
    r = outcome.result
    with tracking.start_run(tracking_uri=tracking_uri, experiment=experiment,
                            run_name=f"{r.target}-{r.split.test:%Y-%m-%d}",
                            tags={"target": r.target, "data": data_name}) as run:  # fmt: skip
        outcome.run_id = run.run_id
        run.params({**r.model.get_params(), **r.split.as_dict(), **r.rows,
                    "best_iteration": r.model.best_iteration_,
                    "calibration": r.model.calibrator_["method"], "data": data_name})  # fmt: skip
        run.metrics({f"{who}_{k}": v for who, m in r.metrics.items() for k, v in m.items()})
        run.metrics({"beats_baselines": float(r.beats_baselines), "train_seconds": r.seconds})
        for key, table in r.tables().items():
            run.json(table.to_dicts(), f"tables/{key}.json")
        test_rows = r.test_rows
        _plots(run, r, test_rows)
        if outcome.reference is not None:
            run.json(outcome.reference, REFERENCE_ARTIFACT)
        outcome.model_uri = _log_model(r, test_rows)
    ref = tracking.register_model(tracking_uri=tracking_uri, model_uri=outcome.model_uri, name=name)
    outcome.version = ref.version
    tracking.set_alias(
        tracking_uri=tracking_uri, name=name, alias="challenger", version=ref.version
    )
    outcome.champion, outcome.note = _promote(r, test_rows, tracking_uri=tracking_uri, name=name)
    if outcome.champion:
        tracking.set_alias(tracking_uri=tracking_uri, name=name, alias="champion",
                           version=ref.version)  # fmt: skip


REFERENCE_ARTIFACT = "reference/profile.json"


def _reference(r: TargetResult, population: Any) -> dict[str, Any]:
    """The training reference that scoring jobs check drift against: the distribution of every
    model input and of the score over all customers known at the backtest cutoff."""
    from segml.monitoring import reference_profile

    inputs = population.select(r.model.feature_names_in_)
    frame = inputs.to_pandas()
    frame[f"score__{r.target}"] = r.model.predict(inputs)
    return reference_profile(frame, seed=0)


def _log_model(r: TargetResult, test_rows: Any) -> str:
    import importlib.metadata as md

    example = test_rows.select(r.model.feature_names_in_).head(5).to_pandas()
    output = example.assign(**{f"score__{r.target}": 0.5})[[f"score__{r.target}"]]
    output[f"reasons__{r.target}"] = "[]"
    reqs = [f"{p}=={md.version(p)}" for p in ("lightgbm", "polars", "pandas", "numpy", "mlflow")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = r.model.save(Path(tmp) / "model")
        return tracking.log_code_model(
            code_path=_CODE,
            artifacts={"model": folder},
            input_example=example,
            output_example=output,
            params={"reasons_top_k": 0},
            pip_requirements=[f"segml=={_segml_version()}", *reqs],
        )


def _segml_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("segml")
    except md.PackageNotFoundError:
        return "0.1.0"


def _promote(r: TargetResult, test_rows: Any, *, tracking_uri: str, name: str) -> tuple[bool, str]:
    if not r.beats_baselines:
        return False, "does not beat the best baseline on the backtest; champion unchanged"
    current = tracking.find_model(tracking_uri=tracking_uri, name=name, alias="champion")
    if current is None:
        return True, "first model: now champion"
    champion, _ = tracking.load_pyfunc(tracking_uri=tracking_uri, name=name, alias="champion")
    inputs = test_rows.select(feature_columns(test_rows.columns)).to_pandas()
    try:
        scores = np.asarray(champion.predict(inputs)[f"score__{r.target}"])
    except Exception as err:  # MLflow's schema enforcement: the champion takes other inputs
        first = str(err).splitlines()[0][:160]
        return True, (
            f"champion v{current.version} cannot score this backtest ({first}); it was trained "
            "on other features or data. The new model beats the baselines: now champion"
        )
    theirs = metrics_for(r.target, test_rows["label"].to_numpy(), scores)
    if beats(r.target, r.metrics["model"], theirs):
        return True, f"beats champion v{current.version} on the same backtest: now champion"
    return False, f"does not beat champion v{current.version} on the same backtest"


def _plots(run: Any, r: TargetResult, test_rows: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = r.tables()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for who in ("model", "rfm", "btyd"):
        if r.target != "value":
            rel = tables[f"reliability_{who}"]
            axes[0].plot(rel["predicted"], rel["observed"], marker="o", label=who)
        else:
            dec = tables[f"deciles_{who}"]
            axes[0].plot(dec["pred_mean"], dec["actual_mean"], marker="o", label=who)
        dec = tables[f"deciles_{who}"]
        axes[1].plot(np.arange(1, dec.height + 1) / 10, dec["cum_gain"], marker="o", label=who)
    lim = axes[0].get_xlim()
    axes[0].plot(lim, lim, "k--", lw=0.8)
    axes[0].set(title="calibration" if r.target != "value" else "decile calibration",
                xlabel="predicted", ylabel="observed")  # fmt: skip
    axes[1].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[1].set(title="cumulative gain", xlabel="share of customers (by score)",
                ylabel="share of positives / revenue")  # fmt: skip
    for ax in axes:
        ax.legend()
    run.figure(fig, "plots/calibration_gain.png")
    plt.close(fig)
    shap_fig = shap_summary_figure(r.model, test_rows)
    run.figure(shap_fig, "plots/shap_summary.png")
    plt.close(shap_fig)


def train_from_config(
    shop: ShopData, config: Any, *, now: Any, targets: Sequence[str], tune: int = 0
) -> list[TrainOutcome]:
    """Unpack a Config's ``training`` section into ``train_models`` keyword arguments."""
    from segml.labels import backtest_lapse_horizon
    from segml.tracking import default_tracking_uri

    t = config.training
    specs: dict[str, dict[str, float]] = {}
    for name in targets:
        tc = getattr(t, name)
        horizon = tc.horizon_days
        if horizon == "auto":
            horizon = backtest_lapse_horizon(shop, now=now, quantile=tc.auto_quantile)
        specs[name] = {"horizon_days": float(horizon), "lookback_days": float(tc.lookback_days),
                       "refit": float(tc.refit)}  # fmt: skip
    out_dir = config.resolve(config.output_dir)
    f = config.features
    return train_models(
        shop,
        now=now,
        targets=specs,
        n_cutoffs=t.cutoffs,
        cutoff_step=t.cutoff_step,
        feature_params=f.builder_params(),
        model_params={"n_jobs": t.n_jobs, **t.lightgbm},
        tune_trials=tune,
        study_storage=t.optuna_storage or f"sqlite:///{Path(out_dir).resolve() / 'optuna.db'}",
        seed=t.seed,
        tracking_uri=config.tracking_uri or default_tracking_uri(out_dir),
        experiment=t.experiment,
        registry_prefix=t.registry_prefix,
        data_name=_data_name(config),
    )  # fmt: skip


def _data_name(config: Any) -> str:
    d = config.data
    if d.synthetic_customers:
        return f"synthetic{d.synthetic_customers}s{d.synthetic_seed}"
    return Path(d.orders.path or "data").name.split(".")[0]
