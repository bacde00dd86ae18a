"""Champion and challenger: when a newly trained model replaces the registered champion.

The decision is made on one backtest: the challenger's own backtest rows (customers, labels,
cutoff). The champion is rescored on exactly those rows and that cutoff with exactly the inputs
it was trained with: a feature table rebuilt from its stored feature settings (including its
fixed category list) and BG/NBD columns for its stored horizons (``rebuild_inputs``), never the
challenger's table, in which columns the champion needs may be missing (they would silently
become missing values and make the champion look worse than it is).

Each pair of scores is compared with a paired bootstrap (``segml.models.compare``) on a primary
and a secondary metric (the target's ``TargetSpec.key_metrics``: ROC AUC then log loss for the
classifiers, normalised Gini then Spearman for value). The rule (``decide``, thresholds in
``PromotionRule``):

1. against each baseline (RFM, BG/NBD): the challenger must not lose on the primary metric
   beyond the noise (interval of the difference wholly below zero), nor lose materially on the
   secondary (see ``PromotionRule.secondary_tolerance``);
2. no champion yet: 1 is enough (a model that ties the baselines serves as well as they do);
3. with a champion: the lower end of the interval of the primary difference must exceed
   ``PromotionRule.min_gain`` (a win beyond the noise), and no material loss on the secondary.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from segml import targets
from segml.config import FEATURE_DEFAULTS
from segml.errors import DataError
from segml.features import FeatureBuilder
from segml.models.compare import Comparison, paired_bootstrap
from segml.models.dataset import CutoffCache

__all__ = [
    "Decision",
    "PromotionRule",
    "decide",
    "input_spec",
    "rebuild_inputs",
]


@dataclasses.dataclass(frozen=True)
class PromotionRule:
    """Thresholds of the champion/challenger decision.

    - ``min_gain`` (default 0.0): the lower end of the interval of the challenger's primary
      metric minus the champion's must be above this, in metric units (0.005: at least half a
      point of ROC AUC beyond the noise).
    - ``secondary_tolerance`` (default 0.01): a loss on the secondary metric is material when
      it is beyond the noise (interval wholly below zero) and larger than this share of the
      other model's value (log loss 0.30 -> 0.003).
    - ``level`` (0.95) and ``n_boot`` (200): the bootstrap interval and its resamples; ``seed``.
    - ``max_rows`` (100,000): a larger backtest is compared on a seeded random sample of this
      many customers (the same for every score), which widens the intervals (never promotes on
      noise) and bounds the cost: each resample computes each metric twice, about 2,400 metric
      evaluations per decision (some 40 s at 100,000 rows on one core).
    """

    min_gain: float = 0.0
    secondary_tolerance: float = 0.01
    level: float = 0.95
    n_boot: int = 200
    seed: int = 0
    max_rows: int = 100_000

    def __post_init__(self) -> None:
        if not (
            0.5 <= self.level < 1
            and self.n_boot >= 50
            and self.min_gain >= 0
            and self.secondary_tolerance >= 0
            and self.max_rows >= 1000
        ):
            raise DataError(
                f"PromotionRule needs 0.5 <= level < 1, n_boot >= 50, min_gain >= 0, "
                f"secondary_tolerance >= 0 and max_rows >= 1000; got {self}."
            )


@dataclasses.dataclass
class Decision:
    """The outcome of ``decide``: promote or not, why, and every comparison made."""

    promote: bool
    reason: str
    target: str
    rows: int
    rule: PromotionRule
    comparisons: dict[str, dict[str, Comparison]]  # opponent -> "primary"/"secondary" -> C
    champion_version: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def tags(self) -> dict[str, str]:
        """Flat tags for the model version and the run (``promotion.*``)."""
        tags = {
            "promotion.decision": "promoted" if self.promote else "rejected",
            "promotion.reason": self.reason[:4000],
            "promotion.rows": str(self.rows),
            "promotion.champion_version": self.champion_version or "none",
            "promotion.rule": json.dumps(dataclasses.asdict(self.rule), sort_keys=True),
            "promotion.comparisons": json.dumps(self._table(), sort_keys=True),  # ~1.5 kB
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

    def _table(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {
            who: {k: {f: _round(v) for f, v in c.as_dict().items()} for k, c in pair.items()}
            for who, pair in self.comparisons.items()
        }

    def description(self, *, cutoff: str) -> str:
        """A few lines for the model version's description in the registry."""
        lines = [
            f"{'PROMOTED' if self.promote else 'NOT promoted'}: {self.reason}",
            f"Backtest {cutoff}, {self.rows:,} customers; challenger minus other, "
            f"{self.rule.level:.0%} paired-bootstrap interval ({self.rule.n_boot} "
            "resamples), positive = challenger better:",
        ]
        for who, pair in self.comparisons.items():
            lines += [f"- vs {who}: {_describe(c)}" for c in pair.values()]
        return "\n".join(lines + self.notes)


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) and np.isfinite(v) else v


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
    """Whether ``challenger`` (scores of the backtest rows with labels ``y``) should become
    champion, given the ``baselines``' scores and the ``champion``'s (None: no champion) on the
    same rows, in the same order. See the module docstring for the rule."""
    rule = rule or PromotionRule()
    primary, secondary = targets.get(target).key_metrics
    opponents = dict(baselines) | ({} if champion is None else {"champion": champion})
    y, challenger = np.asarray(y, dtype=np.float64), np.asarray(challenger, dtype=np.float64)
    notes: list[str] = []
    n = len(y)
    if n > rule.max_rows:
        keep = np.sort(np.random.default_rng(rule.seed).choice(n, rule.max_rows, replace=False))
        y, challenger = y[keep], challenger[keep]
        opponents = {who: np.asarray(s, dtype=np.float64)[keep] for who, s in opponents.items()}
        notes.append(
            f"Compared on a random sample of {rule.max_rows:,} of the {n:,} backtest "
            "customers (PromotionRule.max_rows)."
        )
    kw: dict[str, Any] = {"n_boot": rule.n_boot, "level": rule.level, "seed": rule.seed}
    comps = {
        who: {
            kind: paired_bootstrap(y, challenger, scores, metric=metric, **kw)
            for kind, metric in (("primary", primary), ("secondary", secondary))
        }
        for who, scores in opponents.items()
    }
    decision = Decision(False, "", target, n, rule, comps, champion_version, notes)
    decision.promote, decision.reason = _verdict(comps, rule, champion_version)
    return decision


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
        said = ", ".join(
            f"{c['primary'].verdict} {w} on {c['primary'].metric}" for w, c in comps.items()
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
