"""Propensity models (purchase, lapse, value), their baselines, metrics, tracking and scoring."""

from segml.models.asof import AsOfPlan, AsOfRun, history_before, plan_as_of, train_as_of
from segml.models.backtest import BacktestResult, backtest
from segml.models.baselines import BTYDBaseline, RFMBaseline
from segml.models.btyd import BetaGeoModel, GammaGammaModel, expected_value
from segml.models.experiment import TrainOutcome, train_models
from segml.models.propensity import PropensityModel
from segml.models.scoring import model_inputs, score_customers
from segml.models.training import fit_target, format_table, plan_split

__all__ = [
    "AsOfPlan",
    "AsOfRun",
    "BTYDBaseline",
    "BacktestResult",
    "BetaGeoModel",
    "GammaGammaModel",
    "PropensityModel",
    "RFMBaseline",
    "TrainOutcome",
    "backtest",
    "expected_value",
    "fit_target",
    "format_table",
    "history_before",
    "model_inputs",
    "plan_as_of",
    "plan_split",
    "score_customers",
    "train_as_of",
    "train_models",
]
