"""The target registry: what each prediction target is, in one place.

A target (``purchase``, ``lapse``, ``value``, or one you add) is a ``TargetSpec``: who gets a
label (``population``), what the label is (``label``), the kind of model (``task``, LightGBM
``objective``, ``calibration``), how it is judged (the reported ``metrics``, the
``primary_metric`` and ``secondary_metric`` of the verdict and the promotion), what it is compared
with (``baselines`` and, for the BG/NBD baseline and offset, ``btyd``), and the defaults of its
config (``horizon_days``, ``lookback_days``, an ``auto_horizon``). Labels, training, backtests,
promotion, the report and the segment rules read the spec; none of them names a target.

Adding a target is one module that defines its label function and calls ``register``::

    from segml.targets import TargetSpec, register

    def two_orders(shop, population, *, cut, horizon):  # -> customer_id, label
        ...

    register(TargetSpec(name="orders_2plus", description="two or more orders in the horizon",
                        population="segml.labels:known_population", label=two_orders,
                        task="classification", horizon_days=60))

(``tests/test_targets.py`` trains, scores and reports such a target end to end.) Configure it
under ``training.targets.<name>`` (horizon, lookback, refit) and list it in
``scoring.targets``; the config checks both names against this registry, so register the target
before loading the config. For the command line, declare the module (or the spec) as an entry
point of the group ``segml.targets`` in the package that holds it; the registry imports those
when it is first read::

    [project.entry-points."segml.targets"]
    orders_2plus = "my_shop.targets"

The functions of a spec may be given as callables or as ``"module:function"`` references, which
are imported on first use: this module sits at the bottom of segml's layers (even the config
reads it), so the built-in specs refer to their label functions in ``segml.labels`` by name.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from typing import Any, Literal

from segml.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "BTYDLink",
    "TargetSpec",
    "get",
    "names",
    "register",
    "resolve",
    "specs",
    "unregister",
]

Task = Literal["classification", "regression", "time_to_event"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CLASSIFIER_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_capture")
_REGRESSION_METRICS = ("gini", "spearman", "top_decile_revenue_share", "mae")
_TIMING_METRICS = ("concordance", "mae_days", "coverage_50", "coverage_80", "ordered_share")


@dataclasses.dataclass(frozen=True)
class BTYDLink:
    """How a target reads the per-cutoff BG/NBD columns (``{h}`` is the horizon in days).

    ``offset_column``: the model input a ``baseline="btyd"`` model boosts from, through ``link``
    ("logit" for probabilities, "log" for amounts); ``baseline_column``: what the BG/NBD
    baseline scores with; ``flip``: the target is the complement of that probability (lapse:
    ``1 - p`` for the baseline, ``-logit(p)`` for the offset).
    """

    offset_column: str
    baseline_column: str
    link: Literal["logit", "log"] = "logit"
    flip: bool = False

    def offset(self, horizon_days: float) -> str:
        return self.offset_column.format(h=int(float(horizon_days)))

    def baseline(self, horizon_days: float) -> str:
        return self.baseline_column.format(h=int(float(horizon_days)))


# BG/NBD's P(at least one purchase in the horizon): the baseline of "will they buy" targets
P_PURCHASE = BTYDLink("btyd__p_purchase_{h}d", "baseline__btyd_p_purchase_{h}d")


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """One prediction target (see the module docstring). Fields left empty get the defaults of
    the ``task``:

    - ``classification`` (label 0/1): LightGBM ``binary``; ``calibration`` "probability"
      (isotonic or sigmoid, chosen on validation); ROC AUC then log loss; score a probability.
    - ``regression`` (an amount >= 0): ``tweedie``; "mean_scale" calibration (the prediction
      rescaled to the validation mean); normalised Gini then Spearman. The raw score is read as
      a log (reason codes, the BG/NBD offset), so use a log-link objective (``tweedie``,
      ``poisson``, ``gamma``).

    - ``time_to_event`` (days to an event, censored: ``segml.models.survival``'s label): the
      model is ``estimator``, a ``(*, target, horizon_days, params) -> estimator`` factory whose
      ``predict`` returns the prediction matrix of ``segml.models.survival``; no calibration;
      Harrell's C then MAE in days; trained and backtested by ``train_as_of`` / ``backtest``.

    ``metrics`` are names of ``segml.models.metrics.metric_function``; ``baselines`` names of
    ``segml.models.baselines.make_baseline``.
    """

    name: str
    description: str
    population: Callable[..., Any] | str  # (shop, cut, *, lookback_days) -> LazyFrame[customer_id]
    label: Callable[..., Any] | str  # (shop, population, *, cut, horizon) -> [customer_id, label]
    task: Task = "classification"
    objective: str = ""  # LightGBM objective: "binary" / "tweedie" by default
    calibration: Literal["", "probability", "mean_scale", "none"] = ""
    metrics: tuple[str, ...] = ()  # the backtest table's columns, in order
    primary_metric: str = ""  # ranks models: the verdict, promotion, the offset's tree share
    secondary_metric: str = ""  # a material loss here blocks promotion
    baselines: tuple[str, ...] = ("rfm", "btyd")
    btyd: BTYDLink | None = P_PURCHASE
    horizon_days: int | Literal["auto"] = 30
    lookback_days: int = 365
    auto_horizon: Callable[..., Any] | str | None = None  # (shop, *, now, quantile, backtest)
    score_kind: Literal["probability", "amount", "days"] | None = None  # range of score__<name>
    estimator: Callable[..., Any] | str | None = None  # time_to_event: the model's factory

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"a target name must be lower-case letters, digits and _ (it names columns such "
                f"as score__<name> and models <prefix>-<name>); got {self.name!r}."
            )
        if self.task not in _TASK_DEFAULTS:
            raise ConfigError(
                f"target {self.name!r}: task must be one of {list(_TASK_DEFAULTS)}; "
                f"got {self.task!r}."
            )
        if (self.task == "time_to_event") != (self.estimator is not None):
            raise ConfigError(
                f"target {self.name!r}: a time_to_event target needs estimator=<factory> (and "
                f"only such a target takes one); got task {self.task!r}, estimator "
                f"{self.estimator!r}."
            )
        defaults = _TASK_DEFAULTS[self.task]
        for field, value in defaults.items():
            if not getattr(self, field):
                object.__setattr__(self, field, value)
        if self.calibration != defaults["calibration"]:
            raise ConfigError(
                f"target {self.name!r}: a {self.task} target is calibrated with "
                f"{defaults['calibration']!r}; got {self.calibration!r}."
            )
        if self.horizon_days == "auto" and self.auto_horizon is None:
            raise ConfigError(
                f"target {self.name!r}: horizon_days 'auto' needs an auto_horizon "
                "function; give a number of days or the function."
            )
        if "btyd" in self.baselines and self.btyd is None:
            raise ConfigError(
                f"target {self.name!r}: the 'btyd' baseline needs btyd=BTYDLink(...)"
                "; set it or leave 'btyd' out of baselines."
            )

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"

    @property
    def is_time_to_event(self) -> bool:
        return self.task == "time_to_event"

    @property
    def key_metrics(self) -> tuple[str, str]:
        """(primary, secondary): what a model must beat its baselines on, and promotion reads."""
        return self.primary_metric, self.secondary_metric


_REGISTRY: dict[str, TargetSpec] = {}
_TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {
        "objective": "binary", "calibration": "probability", "metrics": _CLASSIFIER_METRICS,
        "primary_metric": "roc_auc", "secondary_metric": "log_loss", "score_kind": "probability",
    },
    "regression": {
        "objective": "tweedie", "calibration": "mean_scale", "metrics": _REGRESSION_METRICS,
        "primary_metric": "gini", "secondary_metric": "spearman", "score_kind": "amount",
    },
    "time_to_event": {
        "objective": "binary", "calibration": "none", "metrics": _TIMING_METRICS,
        "primary_metric": "concordance", "secondary_metric": "mae_days", "score_kind": "days",
    },
}  # fmt: skip


def register(spec: TargetSpec, *, replace: bool = False) -> TargetSpec:
    """Add ``spec`` to the registry (``replace=True`` to redefine a name); returns it."""
    if not isinstance(spec, TargetSpec):
        raise ConfigError(f"register takes a TargetSpec; got {type(spec).__name__}.")
    _builtins()
    if spec.name in _REGISTRY and not replace:
        raise ConfigError(
            f"a target named {spec.name!r} is already registered; pick another name or pass "
            "replace=True to redefine it."
        )
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered target (a test that registers a toy target cleans up with this)."""
    _builtins()
    if name in _builtin_specs():
        raise ConfigError(f"{name!r} is a built-in target; it cannot be unregistered.")
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered targets, in registration order (the built-ins first)."""
    _builtins()
    return tuple(_REGISTRY)


def specs() -> tuple[TargetSpec, ...]:
    _builtins()
    return tuple(_REGISTRY.values())


def get(name: str, *, what: str = "target") -> TargetSpec:
    """The spec of ``name``; a ConfigError listing the registered targets when there is none."""
    _builtins()
    if name not in _REGISTRY:
        raise ConfigError(
            f"{what} must be one of {list(_REGISTRY)} (the registered targets); got {name!r}. "
            "Register a new one with segml.targets.register(TargetSpec(...)) before using it."
        )
    return _REGISTRY[name]


def resolve(ref: Callable[..., Any] | str) -> Callable[..., Any]:
    """A spec's function: the callable itself, or the one a ``"module:function"`` names."""
    if callable(ref):
        return ref
    module, _, attr = str(ref).partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(
            f"cannot import the target function {ref!r} ({err}); give a callable or "
            "'package.module:function'."
        ) from None
    if not callable(found):
        raise ConfigError(f"{ref!r} is not a function; got {type(found).__name__}.")
    return found  # type: ignore[no-any-return]


ENTRY_POINT_GROUP = "segml.targets"


def _builtins() -> None:
    if not _REGISTRY:  # the built-ins first, then the installed packages' targets
        _REGISTRY.update(_builtin_specs())
        _load_entry_points()


def _load_entry_points() -> None:
    """Targets of installed packages: each entry point of the group ``segml.targets`` names a
    module that registers its targets when imported, or a TargetSpec (registered here)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found = ep.load()
        except Exception as err:
            raise ConfigError(
                f"the installed target plugin {ep.name!r} ({ep.value}, entry point group "
                f"{ENTRY_POINT_GROUP!r}) fails to import: {type(err).__name__}: {err}. Fix or "
                "uninstall the package that declares it."
            ) from err
        if isinstance(found, TargetSpec) and _REGISTRY.get(found.name) is not found:
            register(found)


def _builtin_specs() -> dict[str, TargetSpec]:
    """purchase, lapse and value (their functions are in ``segml.labels``, docs there) and
    next_order (``segml.labels_timing``, ``segml.models.timing``)."""
    lapse_link = dataclasses.replace(P_PURCHASE, flip=True)
    value_link = BTYDLink("btyd__expected_value_{h}d", "btyd__expected_value_{h}d", link="log")
    return {
        "purchase": TargetSpec(
            name="purchase", description="at least one purchase order in the horizon",
            population="segml.labels:known_population", label="segml.labels:purchase_label",
            horizon_days=30),
        "lapse": TargetSpec(
            name="lapse", description="an active buyer places no purchase order in the horizon",
            population="segml.labels:active_buyers", label="segml.labels:lapse_label",
            btyd=lapse_link, horizon_days="auto",
            auto_horizon="segml.labels:lapse_auto_horizon"),
        "value": TargetSpec(
            name="value", description="revenue of the purchase lines in the horizon",
            population="segml.labels:known_population", label="segml.labels:value_label",
            task="regression", btyd=value_link, horizon_days=90),
        "next_order": TargetSpec(
            name="next_order", description="days to the next purchase order (censored at the "
            "horizon)", population="segml.labels:active_buyers",
            label="segml.labels_timing:next_order_label", task="time_to_event",
            estimator="segml.models.timing:make_next_order_model",
            baselines=("btyd_timing", "gap"), btyd=None, horizon_days=90, lookback_days=3650),
    }  # fmt: skip
