"""The rule set: named segments with conditions and priorities, thresholds, channels and their
consent columns, control groups and power settings. YAML validated with pydantic (unknown keys
are errors; every failing key is reported at once, with the file name)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segml.errors import ConfigError
from segml.features.registry import consent_columns
from segml.io import read_yaml
from segml.segments.language import parse_condition

__all__ = [
    "ChangeSettings",
    "ControlGroups",
    "PowerSettings",
    "RuleSet",
    "SegmentRule",
    "Threshold",
    "TimingWindow",
    "as_rule_set",
    "load_rule_set",
]

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
# channel -> consent column: the columns tagged consent:<channel> in the feature registry
# (attr__email_consent, attr__sms_consent)
_DEFAULT_CHANNELS: dict[str, str | None] = dict(consent_columns())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _syntax(text: str | None) -> str | None:
    if text is not None:
        parse_condition(text)  # a ConditionError is a ValueError: pydantic reports it per key
    return text


class Threshold(_Strict):
    """A number conditions refer to as ``@name``: fixed (``value``) or derived from the data
    (the ``quantile`` of the expression ``of`` over the customers matching ``where``)."""

    value: float | None = None
    quantile: float | None = Field(default=None, gt=0, lt=1)
    of: str | None = Field(default=None, description="a numeric expression, e.g. a column")
    where: str | None = Field(default=None, description="only customers matching this condition")

    _check_of = field_validator("of", "where")(_syntax)

    @model_validator(mode="after")
    def _one_source(self) -> Threshold:
        derived = self.quantile is not None or self.of is not None
        if (self.value is None) == (not derived) or (derived and None in (self.quantile, self.of)):
            raise ValueError(
                "a threshold is either value: NUMBER or quantile: Q (0 < Q < 1) with of: COLUMN "
                "(and optionally where: CONDITION)"
            )
        if self.where is not None and self.value is not None:
            raise ValueError("where: only applies to a derived threshold (quantile + of)")
        return self


class ControlGroups(_Strict):
    """Hold-out: each segment member is in control when a salted hash of
    ``customer_id|segment|salt`` falls below the segment's share."""

    salt: str = Field(min_length=1, description="name the campaign; a new salt, a new draw")
    share: float = Field(default=0.1, ge=0, lt=1)


class PowerSettings(_Strict):
    alpha: float = Field(default=0.05, gt=0, lt=1, description="two-sided significance level")
    power: float = Field(default=0.8, gt=0, lt=1)
    max_relative_lift: float = Field(
        default=0.5,
        gt=0,
        description="a segment whose minimum detectable relative lift is larger than this is "
        "flagged as too small to test",
    )
    baseline: str | float | None = Field(
        default=None,
        description="baseline conversion: a rate, a probability column or a condition; by "
        "default the mean of score__purchase, else the share with rfm__orders_30d > 0",
    )

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, v: str | float | None) -> str | float | None:
        if isinstance(v, str):
            _syntax(v)
        elif isinstance(v, float) and not 0 < v < 1:
            raise ValueError(f"a baseline rate must be between 0 and 1, got {v}")
        return v


class ChangeSettings(_Strict):
    """When a segment's size change against the previous run is flagged."""

    max_relative_change: float = Field(default=0.25, gt=0, description="|new - old| / old")
    min_customers: int = Field(
        default=50, ge=0, description="changes of fewer customers are never flagged"
    )


class TimingWindow(_Strict):
    """When the segment's campaign runs: ``[start, end)`` as dates (either may be open)."""

    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TimingWindow:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after its start {self.start}")
        return self


class SegmentRule(_Strict):
    name: str = Field(pattern=_NAME, description="lower_snake_case; used in file names")
    priority: int = Field(ge=1, description="1 is tried first; unique within the rule set")
    when: str = Field(description="the condition (see docs/segments.md)")
    description: str = ""
    channels: list[str] = Field(default_factory=list, description="audiences to export")
    consent: dict[str, str | None] = Field(
        default_factory=dict,
        description="channel -> consent column this segment requires (overrides channels:)",
    )
    message: str | None = Field(default=None, description="the message to send, e.g. a template")
    offer: str | None = Field(default=None, description="offer type, e.g. 'free_shipping'")
    window: TimingWindow | None = Field(default=None, description="when the campaign runs")
    control_share: float | None = Field(default=None, ge=0, lt=1)
    min_size: int | None = Field(
        default=None, ge=0, description="fewer members are flagged (default: min_size:)"
    )
    optional: bool = Field(
        default=False,
        description="skip (and report) the segment when the data lacks a segml feature its "
        "condition reads, e.g. intent__* without an events table; other unknown names still fail",
    )

    _check_when = field_validator("when")(_syntax)


class RuleSet(_Strict):
    """A set of segments over one customer table (features + scores)."""

    mode: Literal["exclusive", "membership"] = "exclusive"
    default_segment: str = Field(default="no_segment", pattern=_NAME)
    channels: dict[str, str | None] = Field(
        default_factory=lambda: dict(_DEFAULT_CHANNELS),
        description="channel -> its consent column (null: no consent needed)",
    )
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    control: ControlGroups
    power: PowerSettings = Field(default_factory=PowerSettings)
    min_size: int = Field(default=0, ge=0, description="segments with fewer members are flagged")
    changes: ChangeSettings = Field(default_factory=ChangeSettings)
    segments: list[SegmentRule] = Field(min_length=1)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        return "membership" if v == "overlapping" else v  # the first pass's name, still read

    @field_validator("channels", "thresholds")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if not re.match(_NAME, k)]
        if bad:
            raise ValueError(f"names must be lower_snake_case identifiers, got {bad}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        problems = []
        for what, values in (
            ("names", [s.name for s in self.segments]),
            ("priorities", [s.priority for s in self.segments]),
        ):
            repeated = sorted(str(k) for k, n in Counter(values).items() if n > 1)
            if repeated:
                problems.append(f"segment {what} must be unique; repeated: {repeated}")
        if self.default_segment in {s.name for s in self.segments}:
            problems.append(
                f"{self.default_segment!r} is the default_segment (customers matching no rule); "
                "rename the segment or set default_segment"
            )
        for s in self.segments:
            unknown = [c for c in s.channels if c not in self.channels]
            unused = [c for c in s.consent if c not in s.channels]
            if unused:
                problems.append(
                    f"segment {s.name!r} sets consent for {unused}, which are not among its "
                    f"channels {s.channels}"
                )
            if unknown:
                problems.append(
                    f"segment {s.name!r} uses unknown channels {unknown}; known channels "
                    f"{sorted(self.channels)} (add one under channels: with its consent column)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def ordered(self) -> list[SegmentRule]:
        """Segments by priority, first tried first."""
        return sorted(self.segments, key=lambda s: s.priority)

    def control_share(self, rule: SegmentRule) -> float:
        return self.control.share if rule.control_share is None else rule.control_share

    def min_size_of(self, rule: SegmentRule) -> int:
        return self.min_size if rule.min_size is None else rule.min_size

    def consent_column(self, rule: SegmentRule, channel: str) -> str | None:
        """The consent column ``rule`` requires for ``channel`` (None: no consent needed)."""
        return rule.consent.get(channel, self.channels[channel])

    def fingerprint(self) -> str:
        """A short hash of the whole rule set, for manifests."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _validate(raw: Any, source: str) -> RuleSet:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top, found {type(raw).__name__}.")
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(rule set)"
            message = e["msg"].removeprefix("Value error, ")
            shown = "" if e["type"] == "value_error" else f" (got {e.get('input')!r})"
            lines.append(f"  {where}: {message}{shown}")
        raise ConfigError(
            f"{source} has {len(lines)} invalid key(s):\n"
            + "\n".join(lines)
            + "\nSee docs/segments.md for every key of a rule set."
        ) from err


def load_rule_set(path: str | Path) -> RuleSet:
    """Read and validate a rule-set YAML file; all failing keys are reported in one ConfigError."""
    return _validate(read_yaml(path, what="rule set"), str(path))


def as_rule_set(rules: RuleSet | dict[str, Any] | str | Path) -> RuleSet:
    """A RuleSet from a RuleSet, a mapping (inline rules) or a path to YAML."""
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, dict):
        return _validate(rules, "rules")
    if isinstance(rules, str | Path):
        return load_rule_set(rules)
    raise ConfigError(
        f"rules must be a RuleSet, a mapping or a path to a YAML rule set; got "
        f"{type(rules).__name__}."
    )
