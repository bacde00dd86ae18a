"""Scores: one scoring run (probabilities, deciles, cluster, reason codes) and its monitoring."""

from segml.monitoring import drift_report, population_stability_index, reference_profile

__all__ = ["drift_report", "population_stability_index", "reference_profile"]
