"""segml: machine-learning customer segmentation and scoring for ecommerce."""

from segml.config import Config, load_config
from segml.errors import ConfigError, DataError, ModelNotFoundError, SegmlError
from segml.features import FEATURES, FeatureBuilder, build_features, describe, rfm_summary
from segml.schema import QualityReport, ShopData, prepare

__version__ = "0.1.0"

__all__ = [
    "FEATURES",
    "Config",
    "ConfigError",
    "DataError",
    "FeatureBuilder",
    "ModelNotFoundError",
    "QualityReport",
    "SegmlError",
    "ShopData",
    "build_features",
    "describe",
    "load_config",
    "prepare",
    "rfm_summary",
]
