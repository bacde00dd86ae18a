"""Point-in-time feature builders: one row per customer, strictly as of a cutoff."""

from segml.features.builder import FeatureBuilder, build_features
from segml.features.registry import FEATURES, FeatureInfo, describe
from segml.features.summary import rfm_summary

__all__ = ["FEATURES", "FeatureBuilder", "FeatureInfo", "build_features", "describe", "rfm_summary"]
