"""The backtest dates a champion/challenger decision is made on (``segml.models.promotion``).

Rolling origin: the challenger's own backtest cutoff and the monthly cutoffs before it, the
challenger's recipe trained once more as of each earlier one (``earlier_backtests``), and the
champion rescored with its own inputs on the same customers at the dates it has not seen
(``champion_dates``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segml.errors import DataError
from segml.labels import label_window_end, monthly_cutoffs
from segml.models.dataset import CutoffCache
from segml.models.promotion import DateScores, rebuild_inputs
from segml.models.training import TargetResult, fit_target

__all__ = ["champion_dates", "date_scores", "earlier_backtests"]


def earlier_backtests(
    cache: CutoffCache, result: TargetResult, *, dates: int, recipe: Mapping[str, Any]
) -> tuple[list[TargetResult], list[str]]:
    """The rolling-origin backtests before ``result``'s, for the promotion decision: at each
    of the ``dates - 1`` monthly cutoffs before its backtest cutoff the same recipe
    (``fit_target`` keyword arguments, the tuned parameters fixed) trained as of that cutoff and
    scored on it, with its baselines. Oldest first; a date with too little history before it is
    left out and said in the notes."""
    h = result.split.horizon_days
    days = monthly_cutoffs(now=label_window_end(result.split.test, h), horizon_days=h,
                           n_cutoffs=dates)[:-1]  # fmt: skip
    out, notes = [], []
    for day in days:
        try:
            out.append(fit_target(cache, now=label_window_end(day, h), **recipe))
        except DataError as err:
            notes.append(f"Backtest date {day:%Y-%m-%d} left out: {str(err).split(';')[0]}.")
    return out, notes


def date_scores(r: TargetResult, champion: Any = None) -> DateScores:
    """``r``'s backtest date: labels, the challenger's and baselines' scores, and
    ``champion`` (its scores of the same rows, or None)."""
    f = r.test_frame
    baselines = {who: f[f"score__{who}"].to_numpy() for who in r.who if who != "model"}
    return DateScores(
        f"{r.split.test:%Y-%m-%d}",
        f["label"].to_numpy(),
        f["score__model"].to_numpy(),
        baselines,
        champion,
    )


def champion_dates(
    champion: Any, results: list[TargetResult], cache: CutoffCache
) -> tuple[list[DateScores], list[str]]:
    """Each date's scores with the champion's, rescored with its own inputs on the same rows,
    at the dates on or after its own backtest cutoff (before it, it saw the labels); at every
    date when none is (a note says so)."""
    own = str(champion.metadata_.get("test_cutoff") or champion.metadata_.get("as_of") or "")
    every = [f"{x.split.test:%Y-%m-%d}" for x in results]
    fair = [d for d in every if d >= own[:10]]
    notes = []
    if len(fair) < len(every):
        left = [d for d in every if d not in fair]
        notes.append(
            f"The champion is compared at {len(fair) or len(every)} of the {len(every)} "
            f"dates: at {', '.join(left)} it had seen the labels (its backtest cutoff is "
            f"{own[:10]})"
            + (", so it is compared at every date anyway (favours keeping it)." if not fair
               else ".")
        )  # fmt: skip
        fair = fair or every
    out = []
    for day, x in zip(every, results, strict=True):
        score = None
        if day in fair:
            inputs = rebuild_inputs(cache, champion, cutoff=x.split.test, ids=x.test_frame)
            score = champion.predict_score(inputs)
        out.append(date_scores(x, score))
    return out, notes
