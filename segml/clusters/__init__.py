"""Data-driven customer segments: clustering with stable ids, profiles, names and explanations."""

from segml.clusters.estimator import CustomerClusterer
from segml.clusters.identity import match_ids, transition_table
from segml.clusters.preprocess import DEFAULT_EXCLUDE, DEFAULT_FEATURES, CustomerPreprocessor
from segml.clusters.profiles import UNCLUSTERED, name_segments, profile_segments
from segml.clusters.selection import choose_k, sweep_k

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_FEATURES",
    "UNCLUSTERED",
    "CustomerClusterer",
    "CustomerPreprocessor",
    "choose_k",
    "match_ids",
    "name_segments",
    "profile_segments",
    "sweep_k",
    "transition_table",
]
