"""Point-in-time feature builders: one row per customer, strictly as of a cutoff."""

from segml.features.builder import FeatureBuilder, build_features
from segml.features.family import (
    FamilyPlan,
    FeatureContext,
    FeatureFamily,
    column,
    register_family,
)
from segml.features.registry import FEATURES, FeatureInfo, describe
from segml.features.summary import rfm_summary

__all__ = [
    "FEATURES",
    "FamilyPlan",
    "FeatureBuilder",
    "FeatureContext",
    "FeatureFamily",
    "FeatureInfo",
    "build_features",
    "column",
    "describe",
    "register_family",
    "rfm_summary",
]
