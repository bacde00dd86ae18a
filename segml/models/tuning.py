"""Hyperparameter search with Optuna: TPE sampler, pruning from a LightGBM callback, a resumable
SQLite study.

The objective is the early-stopping metric on the time-based validation cutoff (the LightGBM
objective's own metric: binary log loss for purchase/lapse, Tweedie deviance for value); a
Tweedie target also searches its variance power. The study lives in an Optuna storage (by default
``sqlite:///<output_dir>/optuna.db``) under a name derived from the target and the data, so an
interrupted ``segml train --tune N`` resumes and only runs the trials still missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from segml import targets
from segml.models.propensity import PropensityModel
from segml.progress import step

__all__ = ["make_tuner", "pruning_callback", "search_space"]


def search_space(trial: Any, target: str) -> dict[str, Any]:
    params = {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
    }
    if targets.get(target).objective == "tweedie":
        params["tweedie_variance_power"] = trial.suggest_float("tweedie_variance_power", 1.1, 1.8)
    return params


def pruning_callback(trial: Any, *, report_every: int = 10) -> Callable[[Any], None]:
    """A LightGBM callback reporting the validation metric to Optuna and pruning bad trials
    (what ``optuna_integration.LightGBMPruningCallback`` does, without that extra package)."""
    import optuna

    def callback(env: Any) -> None:
        if not env.evaluation_result_list or env.iteration % report_every:
            return
        _, _, value, _ = env.evaluation_result_list[0][:4]
        trial.report(float(value), step=env.iteration)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at iteration {env.iteration}")

    callback.order = 30  # type: ignore[attr-defined]
    return callback


def make_tuner(
    *,
    target: str,
    n_trials: int,
    storage: str,
    study_name: str,
    seed: int = 0,
    base_params: dict[str, Any] | None = None,
) -> Callable[[pl.DataFrame, pl.DataFrame], dict[str, Any]]:
    """A function (train, valid) -> best parameters, running the study up to ``n_trials``."""

    def tune(train: pl.DataFrame, valid: pl.DataFrame) -> dict[str, Any]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            load_if_exists=True,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
        )

        def objective(trial: Any) -> float:
            params = (base_params or {}) | search_space(trial, target)
            model = PropensityModel(target=target, **params)
            model.fit(
                train,
                train["label"],
                X_valid=valid,
                y_valid=valid["label"],
                callbacks=[pruning_callback(trial)],
            )
            best = model.booster_.best_score["valid_0"]
            trial.set_user_attr("best_iteration", model.best_iteration_)
            return float(next(iter(best.values())))

        done = sum(t.state.is_finished() for t in study.trials)
        if n_trials - done > 0:
            with step(f"{target} tuning", total=n_trials - done, unit="trials") as task:
                study.optimize(
                    objective,
                    n_trials=n_trials - done,
                    gc_after_trial=False,
                    callbacks=[lambda study, trial: task.advance(note=_best(study))],
                )
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        return dict(study.best_params) if completed else {}

    return tune


def _best(study: Any) -> str:
    """The progress note of a trial: the best value so far (the objective's metric)."""
    import optuna

    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return f"best {study.best_value:.4f}" if completed else "no trial completed yet"
