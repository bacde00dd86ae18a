"""segml: machine-learning customer segmentation and scoring for ecommerce.

The names below are re-exported from their modules. Modelling and segmentation names are
imported on first use (PEP 562), so ``import segml`` stays light for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from segml.config import Config, load_config
from segml.errors import ConfigError, DataError, ModelNotFoundError, SegmlError

__version__ = "0.1.0"

_LAZY = {
    # features and the data contract pull in scikit-learn and SciPy (seconds on a busy
    # machine): lazy, so the command line shows its first line before they load
    "FEATURES": "segml.features",
    "FeatureBuilder": "segml.features",
    "build_features": "segml.features",
    "describe": "segml.features",
    "rfm_summary": "segml.features",
    "QualityReport": "segml.schema",
    "ShopData": "segml.schema",
    "prepare": "segml.schema",
    "make_labels": "segml.labels",
    "monthly_cutoffs": "segml.labels",
    "lapse_horizon_days": "segml.labels",
    "PropensityModel": "segml.models",
    "RFMBaseline": "segml.models",
    "BTYDBaseline": "segml.models",
    "BetaGeoModel": "segml.models",
    "GammaGammaModel": "segml.models",
    "train_models": "segml.models",
    "train_as_of": "segml.models",
    "backtest": "segml.models",
    "history_before": "segml.models",
    "score_customers": "segml.models",
    "model_inputs": "segml.models",
    "drift_report": "segml.scores",
    "reference_profile": "segml.scores",
    "Segmenter": "segml.segments",
    "RuleSet": "segml.segments",
    "SegmentReport": "segml.segments",
    "SegmentResult": "segml.segments",
    "load_rule_set": "segml.segments",
    "minimum_detectable_lift": "segml.segments",
    "readout": "segml.segments",
    "control_draw": "segml.segments",
    "export_segments": "segml.exports",
    "write_exports": "segml.exports",
    "Destination": "segml.exports",
    "register_destination": "segml.exports",
}

__all__ = [
    "Config",
    "ConfigError",
    "DataError",
    "ModelNotFoundError",
    "SegmlError",
    "load_config",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'segml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
