"""Errors segml raises on purpose, each with the exit code the command line returns for it.

Every message says what was wrong, what was expected, what was found and how to fix it, so the
command line can print it without a traceback.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES",
    "ConfigError",
    "DataError",
    "DriftError",
    "FutureModelError",
    "JobLockedError",
    "ModelNotFoundError",
    "RunNotRecordedError",
    "SegmlError",
    "TrackingStoreError",
    "format_exit_codes",
]

# The one list of exit codes: the error classes below, ``segml --help`` and docs/cli.md read it.
# A scheduler acts on these numbers, so they never change meaning; new ones are appended.
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error (a bug: rerun with --debug and report the traceback)",
    2: "bad usage, config or argument (unknown option, missing --config, unusable --out)",
    3: "bad input data (it breaks the data contract)",
    4: "missing model, or no tracking store where one must exist",
    5: "drift beyond the failure threshold (nothing published)",
    6: "another job holds the lock on the output partition (see --wait)",
    7: "tracking store unusable: not a database, not MLflow's, or read-only",
    8: "output published, but the run could not be recorded in the tracking store",
    9: "a champion was trained on data past --as-of (a backfill; --allow-future-models)",
    130: "interrupted (Ctrl-C)",
}


def format_exit_codes(indent: int = 2) -> str:
    """The exit codes as aligned lines ``<code>  <meaning>``, for help texts and docs."""
    return "\n".join(f"{' ' * indent}{code:>3}  {text}" for code, text in EXIT_CODES.items())


class SegmlError(Exception):
    """Base class of segml's own errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1
    severity = "error"  # how the command line labels the message


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


class TrackingStoreError(SegmlError):
    """The MLflow tracking store cannot be used: corrupt, not an MLflow store, or read-only."""

    exit_code = 7


class RunNotRecordedError(SegmlError):
    """The job's output was published, but recording the run in the tracking store failed.

    The command line prints it as a warning: the output is complete and valid."""

    exit_code = 8
    severity = "warning"


class FutureModelError(SegmlError):
    """A model's training data reaches past the scoring cutoff (a backfill would use the
    future); ``segml score --allow-future-models`` overrides."""

    exit_code = 9


def example_values(values: list[object], limit: int = 3) -> str:
    """Render up to ``limit`` example values for an error message, ``repr`` style."""
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}]"
