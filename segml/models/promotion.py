"""Champion and challenger: when a newly trained model replaces the registered champion.

The decision pools over several rolling-origin backtest dates (``PromotionRule.dates``: the
latest monthly cutoffs whose label windows closed by ``now``). At each date the challenger's
recipe is trained as of that date and scored on that date's rows (customers, labels), the
baselines are fitted on the same training rows, and the champion is rescored on exactly those
rows at that date with exactly the inputs it was trained with: a feature table rebuilt from its
stored feature settings (including its fixed category list) and BG/NBD columns for its stored
horizons (``rebuild_inputs``), never the challenger's table, in which columns the champion needs
may be missing (they would silently become missing values and make the champion look worse).

At each date each pair of scores is compared with a paired bootstrap (``segml.models.compare``)
and the dates are pooled (``compare.pool``: the mean difference, its interval from the per-date
draws averaged draw by draw), so one lucky date cannot promote a model. The champion is
compared only at dates on or after its own backtest cutoff (``test_cutoff``): before it, it has
seen the labels and its scores are in-sample; when no date is out of sample for it, every date
is used and the record says so. Each comparison is made on a primary and a secondary metric (the
target's ``TargetSpec.key_metrics``: ROC AUC then log loss for the classifiers, normalised Gini
then Spearman for value). The rule (``decide_dates``, thresholds in ``PromotionRule``):

1. against each baseline (RFM, BG/NBD), pooled: the challenger must not lose on the primary
   metric beyond the noise (interval of the difference wholly below zero), nor lose materially
   on the secondary (see ``PromotionRule.secondary_tolerance``);
2. no champion yet: 1 is enough (a model that ties the baselines serves as well as they do);
3. with a champion: the lower end of the pooled interval of the primary difference must exceed
   ``PromotionRule.min_gain`` (a win beyond the noise), and no material loss on the secondary.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from segml import targets
from segml.config import FEATURE_DEFAULTS
from segml.errors import DataError
from segml.features import FeatureBuilder
from segml.models.compare import Comparison, paired_bootstrap, pool
from segml.models.dataset import CutoffCache

__all__ = [
    "DateScores",
    "Decision",
    "PromotionRule",
    "decide",
    "decide_dates",
    "input_spec",
    "pooled",
    "rebuild_inputs",
]


@dataclasses.dataclass(frozen=True)
class PromotionRule:
    """Thresholds of the champion/challenger decision.

    - ``min_gain`` (default 0.0): the lower end of the pooled interval of the challenger's
      primary metric minus the champion's must be above this, in metric units (0.005: at least
      half a point of ROC AUC beyond the noise).
    - ``secondary_tolerance`` (default 0.01): a loss on the secondary metric is material when
      it is beyond the noise (interval wholly below zero) and larger than this share of the
      other model's value (log loss 0.30 -> 0.003).
    - ``level`` (0.95) and ``n_boot`` (200): the bootstrap interval and its resamples; ``seed``.
    - ``dates`` (3): rolling-origin backtest dates the decision pools over (the latest monthly
      cutoffs whose label windows closed by ``now``; fewer when the history is too short, said
      in the record). Each earlier date trains the challenger's recipe once more.
    - ``max_rows`` (100,000): a larger backtest is compared on a seeded random sample of this
      many customers in all (``max_rows / dates`` per date, the same for every score), which
      widens the intervals (never promotes on noise) and bounds the cost: each resample computes
      each metric twice, about 2,400 metric evaluations per date (some 40 s at 100,000 rows on
      one core).
    """

    min_gain: float = 0.0
    secondary_tolerance: float = 0.01
    level: float = 0.95
    n_boot: int = 200
    seed: int = 0
    max_rows: int = 100_000
    dates: int = 3

    def __post_init__(self) -> None:
        if not (
            0.5 <= self.level < 1
            and self.n_boot >= 50
            and self.min_gain >= 0
            and self.secondary_tolerance >= 0
            and self.max_rows >= 1000
            and 1 <= self.dates <= 24
        ):
            raise DataError(
                f"PromotionRule needs 0.5 <= level < 1, n_boot >= 50, min_gain >= 0, "
                f"secondary_tolerance >= 0, max_rows >= 1000 and 1 <= dates <= 24; got {self}."
            )


@dataclasses.dataclass(frozen=True)
class DateScores:
    """One backtest date of the decision: labels and every model's scores of the same rows.

    ``champion`` None: the champion is not compared at this date (it saw these labels)."""

    date: str
    y: Any
    challenger: Any
    baselines: Mapping[str, Any]
    champion: Any | None = None


PerDate = dict[str, dict[str, list[tuple[str, Comparison]]]]  # who -> kind -> [(date, C)]


@dataclasses.dataclass
class Decision:
    """The outcome of ``decide_dates``: promote or not, why, and every comparison made.

    ``comparisons``: opponent -> "primary"/"secondary" -> the comparison pooled over the dates
    (one date: that date's); ``per_date``: the same per date."""

    promote: bool
    reason: str
    target: str
    rows: int
    rule: PromotionRule
    comparisons: dict[str, dict[str, Comparison]]
    champion_version: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    per_date: PerDate = dataclasses.field(default_factory=dict)
    backtest_dates: list[str] = dataclasses.field(default_factory=list)

    @property
    def dates(self) -> list[str]:
        """The backtest dates of the decision (oldest first)."""
        found = {d for pair in self.per_date.values() for d, _ in pair["primary"]}
        return sorted(found | {d for d in self.backtest_dates if d})

    def tags(self) -> dict[str, str]:
        """Flat tags for the model version and the run (``promotion.*``)."""
        tags = {
            "promotion.decision": "promoted" if self.promote else "rejected",
            "promotion.reason": self.reason[:4000],
            "promotion.rows": str(self.rows),
            "promotion.dates": ",".join(self.dates),
            "promotion.champion_version": self.champion_version or "none",
            "promotion.rule": json.dumps(dataclasses.asdict(self.rule), sort_keys=True),
            "promotion.comparisons": json.dumps(self._table(), sort_keys=True),  # ~1.5 kB
            "promotion.per_date": json.dumps(self._per_date_table(), sort_keys=True)[:5000],
        }
        if self.notes:
            tags["promotion.notes"] = " ".join(self.notes)[:4000]
        for who, pair in self.comparisons.items():
            for c in pair.values():
                tags[f"promotion.challenger.{c.metric}"] = f"{c.model:.6g}"
                tags[f"promotion.{who}.{c.metric}"] = f"{c.other:.6g}"
        if "champion" in self.comparisons:
            p = self.comparisons["champion"]["primary"]
            tags |= {
                "promotion.margin": f"{p.diff:.6g}",
                "promotion.margin_low": f"{p.low:.6g}",
                "promotion.margin_high": f"{p.high:.6g}",
            }
        return tags

    def as_record(self) -> dict[str, Any]:
        """Everything in the decision as strict JSON (the run's ``tables/promotion.json``)."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "target": self.target,
            "rows": self.rows,
            "dates": self.dates,
            "champion_version": self.champion_version,
            "rule": dataclasses.asdict(self.rule),
            "pooled": self._table(),
            "per_date": {
                who: {
                    kind: [{"date": d, **_clean(c.as_dict())} for d, c in dated]
                    for kind, dated in pair.items()
                }
                for who, pair in self.per_date.items()
            },
            "notes": self.notes,
        }

    def _table(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {
            who: {k: {f: _round(v) for f, v in c.as_dict().items()} for k, c in pair.items()}
            for who, pair in self.comparisons.items()
        }

    def _per_date_table(self) -> dict[str, dict[str, dict[str, list[Any]]]]:
        """who -> metric -> date -> [challenger, other, diff, low, high, verdict] (compact)."""
        out: dict[str, dict[str, dict[str, list[Any]]]] = {}
        for who, pair in self.per_date.items():
            for kind, dated in pair.items():
                metric = self.comparisons[who][kind].metric
                out.setdefault(who, {})[metric] = {
                    d: [_round(float(v), 4) for v in (c.model, c.other, c.diff, c.low, c.high)]
                    + [c.verdict]
                    for d, c in dated
                }
        return out

    def description(self, *, cutoff: str) -> str:
        """A few lines for the model version's description in the registry."""
        dates = self.dates or [cutoff]
        lines = [
            f"{'PROMOTED' if self.promote else 'NOT promoted'}: {self.reason}",
            f"Backtest dates {', '.join(dates)} ({len(dates)}, pooled), {self.rows:,} "
            f"customer rows; challenger minus other, {self.rule.level:.0%} paired-bootstrap "
            f"interval ({self.rule.n_boot} resamples), positive = challenger better:",
        ]
        for who, pair in self.comparisons.items():
            for kind, c in pair.items():
                lines.append(f"- vs {who}: {_describe(c)}")
                dated = self.per_date.get(who, {}).get(kind, [])
                if len(dated) > 1:
                    lines += [f"    {d}: {_describe(x)}" for d, x in dated]
        return "\n".join(lines + self.notes)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def _round(v: Any, digits: int = 6) -> Any:
    return round(v, digits) if isinstance(v, float) and np.isfinite(v) else v


def _describe(c: Comparison) -> str:
    return (
        f"{c.metric} {c.model:.4f} vs {c.other:.4f}, diff {c.diff:+.4f} "
        f"[{c.low:+.4f}, {c.high:+.4f}] {c.verdict}"
    )


def _material_loss(c: Comparison, rule: PromotionRule) -> bool:
    return c.verdict == "loses" and c.diff < -rule.secondary_tolerance * abs(c.other)


def decide(
    y: Any,
    challenger: Any,
    *,
    target: str,
    baselines: Mapping[str, Any],
    champion: Any | None = None,
    champion_version: str | None = None,
    rule: PromotionRule | None = None,
) -> Decision:
    """``decide_dates`` on one backtest date: whether ``challenger`` (scores of the backtest
    rows with labels ``y``) should become champion, given the ``baselines``' scores and the
    ``champion``'s (None: no champion) on the same rows, in the same order."""
    one = DateScores("", y, challenger, baselines, champion)
    return decide_dates([one], target=target, champion_version=champion_version, rule=rule)


def decide_dates(
    dates: Sequence[DateScores],
    *,
    target: str,
    champion_version: str | None = None,
    rule: PromotionRule | None = None,
) -> Decision:
    """Whether the challenger should become champion, pooled over the backtest ``dates`` (see
    the module docstring for the rule). The champion is compared at the dates that carry its
    scores, pooled over those."""
    if not dates:
        raise DataError("decide_dates needs at least one backtest date; got none.")
    rule = rule or PromotionRule()
    kinds = dict(zip(("primary", "secondary"), targets.get(target).key_metrics, strict=True))
    per_date: PerDate = {}
    notes: list[str] = []
    cap = max(rule.max_rows // len(dates), 1)
    for i, d in enumerate(dates):
        y, ours, opponents, note = _sample(d, cap=cap, seed=rule.seed)
        notes += [note] if note else []
        kw: dict[str, Any] = {"n_boot": rule.n_boot, "level": rule.level, "seed": rule.seed + i}
        for who, scores in opponents.items():
            for kind, metric in kinds.items():
                c = paired_bootstrap(y, ours, scores, metric=metric, **kw)
                per_date.setdefault(who, {}).setdefault(kind, []).append((d.date, c))
    comps = {
        who: {kind: pooled([c for _, c in dated], level=rule.level) for kind, dated in p.items()}
        for who, p in per_date.items()
    }
    rows = sum(len(d.y) for d in dates)
    decision = Decision(False, "", target, rows, rule, comps, champion_version, notes, per_date)
    decision.promote, decision.reason = _verdict(comps, rule, champion_version)
    decision.backtest_dates = [d.date for d in dates]
    decision.reason += _dates_said(decision)
    return decision


def _dates_said(decision: Decision) -> str:
    """' [values pooled over the backtest dates ...; champion at ...]' when there are several."""
    every = decision.dates
    if len(every) < 2:
        return ""
    said = f" [values pooled over the backtest dates {', '.join(every)}"
    champion = [d for d, _ in decision.per_date.get("champion", {}).get("primary", [])]
    if champion and champion != every:
        said += f"; champion at {', '.join(champion)}"
    return said + "]"


def _sample(d: DateScores, *, cap: int, seed: int) -> tuple[Any, Any, dict[str, Any], str | None]:
    y = np.asarray(d.y, dtype=np.float64)
    opponents = dict(d.baselines) | ({} if d.champion is None else {"champion": d.champion})
    scores = {who: np.asarray(s, dtype=np.float64) for who, s in opponents.items()}
    ours, n = np.asarray(d.challenger, dtype=np.float64), len(y)
    if n <= cap:
        return y, ours, scores, None
    keep = np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))
    note = (
        f"Compared on a random sample of {cap:,} of the {n:,} backtest customers"
        f"{' at ' + d.date if d.date else ''} (PromotionRule.max_rows)."
    )
    return y[keep], ours[keep], {w: s[keep] for w, s in scores.items()}, note


def pooled(comparisons: Sequence[Comparison], *, level: float = 0.95) -> Comparison:
    """Per-date comparisons of one metric as one ``Comparison``: the mean of each value, the
    interval and verdict of ``compare.pool`` and the averaged draws (one date: itself)."""
    if len(comparisons) == 1:
        return comparisons[0]
    p = pool(comparisons, level=level)
    width = min(c.draws.size for c in comparisons)
    draws = np.mean([c.draws[:width] for c in comparisons], axis=0)
    rows = sum(c.rows for c in comparisons)
    return Comparison(
        p["metric"], p["model"], p["other"], p["diff"], p["low"], p["high"], p["verdict"], rows,
        draws,
    )  # fmt: skip


def _verdict(
    comps: dict[str, dict[str, Comparison]], rule: PromotionRule, version: str | None
) -> tuple[bool, str]:
    for who in (w for w in comps if w != "champion"):
        p, s = comps[who]["primary"], comps[who]["secondary"]
        if p.verdict == "loses":
            return False, f"loses to the {who} baseline beyond the noise ({_describe(p)})"
        if _material_loss(s, rule):
            return False, f"loses materially to the {who} baseline ({_describe(s)})"
    if "champion" not in comps:
        if not comps:
            return True, "first model (no baselines to compare with); now champion"
        said = "; ".join(
            f"{c['primary'].verdict} {w} ({_describe(c['primary'])})" for w, c in comps.items()
        )
        return True, f"first model: {said} (no loss beyond the noise); now champion"
    p, s = comps["champion"]["primary"], comps["champion"]["secondary"]
    if not p.low > rule.min_gain:
        return False, (
            f"does not beat champion v{version} beyond the noise ({_describe(p)}; needs the "
            f"interval's lower end above {rule.min_gain:g}); champion unchanged"
        )
    if _material_loss(s, rule):
        return False, f"loses materially to champion v{version} ({_describe(s)}); unchanged"
    return True, f"beats champion v{version} beyond the noise ({_describe(p)}); now champion"


# --------------------------------------------------------------------------- champion inputs
def input_spec(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What a model reads, from its ``metadata_``: FeatureBuilder keyword arguments (with the
    fixed ``categories``) and the BG/NBD horizons, JSON-normalised so specs compare equal."""
    features = json.loads(json.dumps(metadata.get("features") or {}, default=list))
    horizons = sorted(float(h) for h in metadata.get("btyd_horizons") or [])
    return {"features": features, "horizons": horizons}


def rebuild_inputs(
    cache: CutoffCache, model: Any, *, cutoff: Any, ids: pl.DataFrame
) -> pl.DataFrame:
    """``model``'s input rows at ``cutoff`` for the customers in ``ids`` (same order), built
    from the model's own stored feature settings and BG/NBD horizons on ``cache``'s shop.

    Reuses ``cache``'s table when the settings are the cache's. Raises DataError when the
    shop cannot give a column the model was trained on (e.g. the events table is gone)."""
    spec = input_spec(model.metadata_)
    if not spec["features"]:
        raise DataError(
            f"the model's metadata has no feature settings (metadata keys "
            f"{sorted(model.metadata_)}); it cannot be rescored with its own inputs."
        )
    own = {**cache.builder.feature_settings(), "categories": cache.builder.categories_}
    if spec == input_spec({"features": own, "btyd_horizons": cache.horizons}):
        frame = cache.features(cutoff)
    else:
        params = dict(spec["features"])
        params["windows_days"] = tuple(params.get("windows_days", FEATURE_DEFAULTS["windows_days"]))
        builder = FeatureBuilder(**params).fit(cache.shop, as_of=cutoff)
        own_cache = CutoffCache(
            cache.shop,
            builder,
            horizons=spec["horizons"],
            max_fit_rows=cache.max_fit_rows,
            seed=cache.seed,
        )
        frame = own_cache.features(cutoff)
    missing = [c for c in model.feature_names_in_ if c not in frame.columns]
    if missing:
        raise DataError(
            f"the data no longer gives {len(missing)} input column(s) the model was trained on, "
            f"e.g. {missing[:5]}; found {frame.width - 1} columns. Its inputs changed (a table "
            "or column missing from the data?)."
        )
    rows = ids.select("customer_id").join(
        frame, on="customer_id", how="left", maintain_order="left"
    )
    return rows.select("customer_id", *model.feature_names_in_)
