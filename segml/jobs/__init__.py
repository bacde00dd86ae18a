"""The jobs layer: the only code that reads a ``Config``.

Each job unpacks the config into plain keyword arguments for the layers below, resolves the
tracking store once (``common.tracking_uri``) and chooses the engine backend once
(``segml.scores.backend.backend_for``). The command line calls these jobs and nothing else.

- ``features``: ``build_feature_table`` (``segml features``)
- ``train``: ``train_job`` (``segml train``); ``backtest``: ``backtest_job`` (``segml backtest``)
- ``cluster``: ``cluster_job`` (``segml cluster``), storing its feature settings
- ``score``: ``score_job``, ``score_and_report`` (``segml score``)
- ``run``: ``run_pipeline`` (``segml run``)
- ``segment``: ``segment_job``, ``readout_job``, ``report_job`` (``segml segment``, ``report``)

Submodules are imported on first use, so ``segml --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

from segml.jobs.common import config_hash, cutoff, load_shop, tracking_uri

__all__ = ["build_feature_table", "config_hash", "cutoff", "load_shop", "tracking_uri"]


def __getattr__(name: str) -> Any:
    if name == "build_feature_table":
        from segml.jobs.features import build_feature_table

        return build_feature_table
    raise AttributeError(f"module 'segml.jobs' has no attribute {name!r}")
