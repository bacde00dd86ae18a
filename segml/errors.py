"""Errors segml raises on purpose, each with the exit code the command line returns for it.

Every message says what was wrong, what was expected, what was found and how to fix it, so the
command line can print it without a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DriftError",
    "FutureModelError",
    "JobLockedError",
    "ModelNotFoundError",
    "SegmlError",
]


class SegmlError(Exception):
    """Base class of segml's own errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ConfigError(SegmlError, ValueError):
    """A configuration file or argument is invalid (unknown key, wrong type, bad value)."""

    exit_code = 2


class DataError(SegmlError, ValueError):
    """Input data breaks the data contract (missing column, unparseable value, empty input)."""

    exit_code = 3


class ModelNotFoundError(SegmlError, LookupError):
    """A model that a job needs is not registered or cannot be loaded."""

    exit_code = 4


class DriftError(SegmlError):
    """Input or scores drifted beyond the failure threshold against the training reference."""

    exit_code = 5


class JobLockedError(SegmlError):
    """Another job holds the lock for the same output partition."""

    exit_code = 6


class FutureModelError(SegmlError):
    """A model's training data reaches past the scoring cutoff (a backfill would use the
    future); ``segml score --allow-future-models`` overrides."""

    exit_code = 7


def example_values(values: list[object], limit: int = 3) -> str:
    """Render up to ``limit`` example values for an error message, ``repr`` style."""
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}]"
