"""The overlap report: how many customers match each pair of segments and, in exclusive mode,
where the priorities sent them, so a reader sees what the priorities resolved."""

from __future__ import annotations

from typing import Any

import polars as pl

from segml.segments.rules import RuleSet

__all__ = ["overlap_report"]


def overlap_report(base: pl.DataFrame, coded: pl.DataFrame, *, rule_set: RuleSet) -> dict[str, Any]:
    """``pairs``: every pair of segments (``segment`` before ``other`` by priority) that some
    customers both match, with that count; in exclusive mode also how many of them went to
    ``segment`` (never to ``other``, the lower priority) and how many to a higher priority.
    ``resolved`` (exclusive mode): per segment, where the customers who matched it but were
    assigned another segment went.

    ``base`` has the match columns ``_m<i>`` (rules in priority order), one row per customer;
    ``coded`` adds ``_code``, the index of the assigned rule."""
    names = [r.name for r in rule_set.ordered()]
    k = len(names)
    pairs_at = [(i, j) for i in range(k) for j in range(i + 1, k)]
    exclusive = rule_set.mode == "exclusive"
    exprs = [(pl.col(f"_m{i}") & pl.col(f"_m{j}")).sum().alias(f"b{i}_{j}") for i, j in pairs_at]
    if exclusive:
        exprs += [
            (pl.col(f"_m{i}") & pl.col(f"_m{j}") & (pl.col("_code") == i)).sum().alias(f"t{i}_{j}")
            for i, j in pairs_at
        ]
    counts = (coded if exclusive else base).select(exprs).row(0) if pairs_at else ()
    pairs = []
    for n, (i, j) in enumerate(pairs_at):
        if not counts[n]:
            continue
        pair: dict[str, Any] = {"segment": names[i], "other": names[j], "both": int(counts[n])}
        if exclusive:
            pair["to_segment"] = int(counts[len(pairs_at) + n])
            pair["to_higher_priority"] = pair["both"] - pair["to_segment"]
        pairs.append(pair)
    resolved = _resolved(coded, names) if exclusive else {}
    return {"pairs": sorted(pairs, key=lambda p: -p["both"]), "resolved": resolved}


def _resolved(coded: pl.DataFrame, names: list[str]) -> dict[str, dict[str, int]]:
    """segment -> {assigned segment: customers} over customers who matched it but got another."""
    k = len(names)
    table = coded.group_by("_code").agg(pl.col(f"_m{i}").sum().alias(str(i)) for i in range(k))
    out: dict[str, dict[str, int]] = {}
    for row in table.sort("_code").iter_rows(named=True):
        code = int(row["_code"])
        for i in range(k):
            if row[str(i)] and code != i and code < k:
                out.setdefault(names[i], {})[names[code]] = int(row[str(i)])
    return {s: dict(sorted(v.items(), key=lambda kv: -kv[1])) for s, v in out.items()}
