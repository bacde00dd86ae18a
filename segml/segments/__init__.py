"""Segments: a rule engine over features and scores, with priorities, consent, control groups,
power calculations and campaign readouts (see docs/segments.md)."""

from segml.segments.control import control_draw, control_draws
from segml.segments.functions import HELPERS
from segml.segments.language import parse_condition
from segml.segments.power import DetectableLift, minimum_detectable_lift
from segml.segments.readout import readout
from segml.segments.report import SegmentReport
from segml.segments.result import SegmentResult
from segml.segments.rules import (
    ControlGroups,
    PowerSettings,
    RuleSet,
    SegmentRule,
    Threshold,
    load_rule_set,
)
from segml.segments.segmenter import Segmenter, columns_read
from segml.segments.syntax import ConditionError
from segml.segments.thresholds import ThresholdValue

__all__ = [
    "HELPERS",
    "ConditionError",
    "ControlGroups",
    "DetectableLift",
    "PowerSettings",
    "RuleSet",
    "SegmentReport",
    "SegmentResult",
    "SegmentRule",
    "Segmenter",
    "Threshold",
    "ThresholdValue",
    "columns_read",
    "control_draw",
    "control_draws",
    "load_rule_set",
    "minimum_detectable_lift",
    "parse_condition",
    "readout",
]
