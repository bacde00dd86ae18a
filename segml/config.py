"""Configuration: YAML in ``configs/``, loaded once at the edge and validated with pydantic.

Every model forbids unknown keys, so a typo fails instead of being ignored, and every failing key
is reported at once with the file name. Jobs unpack these objects into plain keyword arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeAlias

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from segml import targets as target_registry
from segml.errors import ConfigError

__all__ = [
    "FEATURE_DEFAULTS",
    "CategoryRules",
    "ClusteringConfig",
    "Config",
    "CustomersConfig",
    "DataConfig",
    "DataSpec",
    "DestinationConfig",
    "EventsConfig",
    "ExportsConfig",
    "FeatureConfig",
    "JobConfig",
    "OrdersConfig",
    "ScoringConfig",
    "TargetConfig",
    "TrainingConfig",
    "data_section",
    "load_config",
    "resolve_path",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRules(_Strict):
    """Derive a product group from a text column when the data has no category.

    ``rules`` maps a group name to a case-insensitive regular expression; the first rule (in file
    order) whose pattern matches the ``source`` column wins, anything else gets ``default``.
    """

    source: str
    rules: dict[str, str]
    default: str = "other"


class _TableConfig(_Strict):
    path: str | None = None
    format: Literal["csv", "parquet"] | None = None
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical name -> the name in your data"
    )
    encoding: str = Field(
        default="utf8",
        description="CSV text encoding, e.g. latin-1 or cp1252 (any Python codec); utf8-lossy "
        "replaces invalid bytes",
    )
    separator: str = Field(default=",", description="CSV delimiter, e.g. ';' or '\\t'")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        import codecs

        if v.lower().replace("_", "-").replace("utf-8", "utf8") == "utf8-lossy":
            return "utf8-lossy"
        try:
            name = codecs.lookup(v).name
        except LookupError as err:
            raise ValueError(f"unknown encoding {v!r}; use e.g. utf8, latin-1 or cp1252") from err
        return "utf8" if name == "utf-8" else name

    @field_validator("separator")
    @classmethod
    def _one_character(cls, v: str) -> str:
        v = {"\\t": "\t", "tab": "\t"}.get(v, v)
        if len(v) != 1 or not v.isascii():
            raise ValueError(
                f"separator must be one ASCII character (e.g. ';' or '\\t'), got {v!r}"
            )
        return v


class OrdersConfig(_TableConfig):
    return_order_prefix: str | None = Field(
        default=None, description="order ids starting with this mark cancellations (e.g. 'C')"
    )
    return_statuses: list[str] = Field(
        default_factory=lambda: ["cancelled", "canceled", "returned", "refunded"]
    )
    non_product_ids: list[str] = Field(
        default_factory=list, description="product ids that are fees, postage or adjustments"
    )
    category_rules: CategoryRules | None = None


class EventsConfig(_TableConfig):
    pass


class CustomersConfig(_TableConfig):
    pass


class DataConfig(_Strict):
    orders: OrdersConfig = Field(default_factory=OrdersConfig)
    events: EventsConfig | None = None
    customers: CustomersConfig | None = None
    synthetic_customers: int | None = Field(
        default=None, description="use segml.datasets.make_shop with this many customers"
    )
    synthetic_seed: int = 0


FEATURE_DEFAULTS: dict[str, Any] = {
    "windows_days": (7, 30, 90, 365),
    "top_k_categories": 8,
    "engagement_window_days": 90,
    "intent_window_days": 30,
}
"""The feature settings when none are given: ``FeatureBuilder``'s defaults, the config's, and
what a model stored without them was trained with. Defined here only."""


class FeatureConfig(_Strict):
    windows_days: list[int] = Field(default_factory=lambda: list(FEATURE_DEFAULTS["windows_days"]))
    top_k_categories: int = Field(default=FEATURE_DEFAULTS["top_k_categories"], ge=1, le=100)
    engagement_window_days: int = Field(default=FEATURE_DEFAULTS["engagement_window_days"], ge=1)
    intent_window_days: int = Field(default=FEATURE_DEFAULTS["intent_window_days"], ge=1)
    families: list[str] | None = Field(
        default=None,
        description="feature families to build (rfm, affinity, engagement, intent, attr, or a "
        "registered one); default all",
    )
    family_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameters of registered families, by family name"
    )

    @field_validator("windows_days")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(w <= 0 for w in v):
            raise ValueError(f"windows_days must be positive whole days, got {v}")
        return sorted(set(v))

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # keys added after the first release are left out of a dump while at their defaults,
        # so the config hash in every run manifest stays what it was for existing configs
        out: dict[str, Any] = handler(self)
        for key, default in (("families", None), ("family_params", {})):
            if out.get(key) == default:
                out.pop(key, None)
        return out

    @field_validator("families")
    @classmethod
    def _some(cls, v: list[str] | None) -> list[str] | None:
        # the names are checked against the registry by FeatureBuilder (config sits below it)
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError(
                f"families must list each feature family once (or be left out for all), got {v}"
            )
        return v

    def builder_params(self) -> dict[str, Any]:
        """Keyword arguments of ``segml.features.FeatureBuilder``."""
        return {
            "windows_days": tuple(self.windows_days),
            "top_k_categories": self.top_k_categories,
            "engagement_window_days": self.engagement_window_days,
            "intent_window_days": self.intent_window_days,
            "families": None if self.families is None else tuple(self.families),
            "family_params": dict(self.family_params) or None,
        }


class JobConfig(_Strict):
    as_of: str | None = Field(
        default=None,
        description="cutoff for `segml run` when --as-of is not given (never inferred)",
    )


class TargetConfig(_Strict):
    """One target of ``segml train``: its horizon (and, for lapse, the active-buyer window)."""

    horizon_days: int | Literal["auto"] = Field(
        default=30,
        description="label window after each cutoff; 'auto' only for lapse (a target with an "
        "auto_horizon); under training.targets the default is the target's own",
    )
    lookback_days: int = Field(default=365, ge=1, description="lapse: active-buyer window")
    auto_quantile: float = Field(
        default=0.8, gt=0, lt=1, description="lapse 'auto': quantile of repeat-order gaps"
    )
    refit: bool = Field(
        default=False,
        description="after early stopping, refit the trees on every cutoff up to validation",
    )


class PromotionConfig(_Strict):
    """When a new model replaces the champion (``segml.models.promotion.PromotionRule``)."""

    min_gain: float = Field(
        default=0.0, ge=0, description="the primary metric's interval must clear this margin"
    )
    secondary_tolerance: float = Field(
        default=0.01, ge=0, description="relative loss on the secondary metric that is material"
    )
    level: float = Field(default=0.95, ge=0.5, lt=1, description="bootstrap interval level")
    n_boot: int = Field(default=200, ge=50, description="bootstrap resamples")
    max_rows: int = Field(default=100_000, ge=1000, description="backtest rows compared at most")
    dates: int = Field(
        default=3, ge=1, le=24, description="rolling-origin backtest dates the decision pools over"
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # left out at its default, so existing configs keep the config_hash their runs recorded
        out: dict[str, Any] = handler(self)
        if out.get("dates") == 3:
            out.pop("dates")
        return out


class TrainingConfig(_Strict):
    """``segml train``: cutoffs, targets, LightGBM settings, tracking and tuning."""

    now: str | None = Field(
        default=None, description="training date; --now overrides; default: today (UTC)"
    )
    cutoffs: int = Field(
        default=6, ge=2, le=60, description="training + validation cutoffs (before the purge)"
    )
    cutoff_step: Literal["monthly", "semimonthly"] = Field(
        default="monthly", description="cutoff grid: 1st of month, or 1st and 16th"
    )
    purchase: TargetConfig = Field(default_factory=lambda: TargetConfig(horizon_days=30))
    lapse: TargetConfig = Field(default_factory=lambda: TargetConfig(horizon_days="auto"))
    value: TargetConfig = Field(default_factory=lambda: TargetConfig(horizon_days=90))
    targets: dict[str, TargetConfig] = Field(
        default_factory=dict,
        description="settings of other registered targets (segml.targets), by name",
    )
    lightgbm: dict[str, float | int | str] = Field(
        default_factory=dict, description="PropensityModel parameters, e.g. num_leaves: 31"
    )
    n_jobs: int = Field(default=2, ge=1, description="LightGBM threads")
    seed: int = 0
    experiment: str = Field(default="segml", description="MLflow experiment name")
    registry_prefix: str = Field(default="segml", description="models are <prefix>-<target>")
    optuna_storage: str | None = Field(
        default=None, description="Optuna study storage; default sqlite:///<output_dir>/optuna.db"
    )
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # like features.families: left out while empty, so existing configs keep their hash
        out: dict[str, Any] = handler(self)
        if not out.get("targets"):
            out.pop("targets", None)
        return out

    @field_validator("targets")
    @classmethod
    def _registered(cls, value: dict[str, TargetConfig]) -> dict[str, TargetConfig]:
        own = [n for n in value if n in cls.model_fields]
        if own:
            raise ValueError(
                f"{own} have their own keys: set them as training.{own[0]}, not "
                "under training.targets"
            )
        for name, tc in value.items():
            spec = _registered_target(name, "training.targets")
            if tc.horizon_days == "auto" and spec.auto_horizon is None:
                raise ValueError(
                    f"{name}: horizon_days 'auto' is not available for this target (its "
                    "TargetSpec has no auto_horizon); give a number of days"
                )
        return value

    def target(self, name: str) -> TargetConfig:
        """The settings of target ``name``: ``training.<name>`` for the built-ins, else
        ``training.targets.<name>`` with unset keys from the target's ``TargetSpec``."""
        if name in type(self).model_fields and name != "targets":
            own: TargetConfig = getattr(self, name)
            return own
        spec = target_registry.get(name, what="a training target")
        tc = self.targets.get(name, TargetConfig())
        unset = {"horizon_days": spec.horizon_days, "lookback_days": spec.lookback_days}
        return tc.model_copy(
            update={k: v for k, v in unset.items() if k not in tc.model_fields_set}
        )


def _registered_target(name: str, where: str) -> target_registry.TargetSpec:
    if name not in target_registry.names():
        raise ValueError(
            f"{where}: no target named {name!r} is registered (registered: "
            f"{', '.join(target_registry.names())}); register it with "
            "segml.targets.register(TargetSpec(...)) before loading the config"
        )
    return target_registry.get(name)


class ClusteringConfig(_Strict):
    """``segml cluster``: the CustomerClusterer's settings (unset keys keep its defaults; see
    docs/clusters.md), tracking names and whether to explain the segments."""

    algorithm: Literal["kmeans", "minibatch_kmeans", "gmm", "hdbscan"] = "kmeans"
    n_clusters: int | Literal["auto"] = Field(default="auto", description="k, or 'auto'")
    k_range: tuple[int, int] = Field(default=(3, 10), description="k swept by 'auto'")
    selection_rule: Literal["stable_elbow", "stability", "silhouette", "bic"] = "stable_elbow"
    stability_threshold: float = Field(default=0.8, gt=0, le=1)
    n_subsamples: int = Field(default=3, ge=2, le=50, description="fits per k (stability)")
    subsample: float = Field(default=0.8, gt=0, le=1, description="share of the sample per fit")
    selection_sample: int | None = Field(default=3000, ge=100)
    n_init: int = Field(default=10, ge=1, description="k-means restarts per subsample fit")
    features: list[str] | None = Field(
        default=None,
        description="glob patterns of feature columns; default rfm, affinity, engagement",
    )
    exclude: list[str] | None = Field(
        default=None, description="glob patterns to leave out; default the windowed rfm columns"
    )
    pca_components: int | None = Field(default=None, ge=1)
    covariance_type: Literal["full", "diag", "tied", "spherical"] = "full"
    min_cluster_size: int | None = Field(default=None, ge=2)
    names: dict[int, str] = Field(default_factory=dict, description="segment id -> name")
    random_state: int = 0
    explain: bool = Field(default=True, description="surrogate LightGBM + SHAP per segment")
    experiment: str = Field(default="segml-clusters", description="MLflow experiment name")
    registry_name: str = Field(default="segml-clusters", description="registered model name")


class ChurnTiersConfig(_Strict):
    """Cut points on the calibrated lapse probability (``score__lapse``) for ``churn__tier``."""

    medium_from: float = Field(
        default=0.3, gt=0, lt=1, description="lapse probability from which a customer is medium"
    )
    high_from: float = Field(
        default=0.6, gt=0, lt=1, description="lapse probability from which a customer is high"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ChurnTiersConfig:
        if self.medium_from >= self.high_from:
            raise ValueError(
                f"medium_from must be below high_from; got medium_from={self.medium_from}, "
                f"high_from={self.high_from}. E.g. medium_from: 0.3, high_from: 0.6."
            )
        return self


class OutputsConfig(_Strict):
    """``segml score``'s per-customer lifetime outputs (docs/outputs.md): ``clv__*`` and
    ``churn__tier``, never model inputs."""

    enabled: bool = Field(default=True, description="write the clv__* and churn__tier columns")
    purchase_horizons_days: list[int] = Field(
        default=[30, 90, 365],
        min_length=1,
        description="horizons of clv__expected_purchases_{h}d (BG/NBD), in days",
    )
    clv_months: int = Field(default=12, ge=1, le=120, description="CLV horizon, in months")
    annual_discount_rate: float = Field(
        default=0.10, ge=0, le=1, description="discount rate a year for CLV (0.10: 10%)"
    )
    churn_tiers: ChurnTiersConfig = Field(default_factory=ChurnTiersConfig)
    p_alive_min_iqr: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="P(alive) with an interquartile range below this is reported as carrying "
        "no information (a degenerate BG/NBD fit)",
    )

    @field_validator("purchase_horizons_days")
    @classmethod
    def _horizons(cls, value: list[int]) -> list[int]:
        bad = [h for h in value if h < 1]
        if bad or len(set(value)) != len(value):
            raise ValueError(
                f"purchase_horizons_days must be distinct whole days >= 1; got {value}. "
                "E.g. [30, 90, 365]."
            )
        return value


def _is_default_outputs(value: OutputsConfig) -> bool:
    return value == OutputsConfig()


class ScoringConfig(_Strict):
    """``segml score``: which registered models to load and how to score and monitor."""

    targets: list[str] = Field(
        default=["purchase", "lapse", "value"],
        description="models to load and score: registered targets (segml.targets)",
    )
    alias: str = Field(default="champion", description="registry alias of the models to load")
    missing_model: Literal["error", "skip"] = Field(
        default="error",
        description="a target without a model: fail (exit 4) or score the others; "
        "`segml run` uses skip, so a model that lost to its baselines is left out, not forced",
    )
    chunk_size: int = Field(default=250_000, ge=1_000, description="rows scored at a time")
    reasons_top_k: int = Field(default=3, ge=0, le=20)
    reasons_for: Literal["all", "segmented", "none"] = Field(
        default="segmented",
        description="reason codes for every customer, only those a rule segment selects, or none",
    )
    psi_warn: float = Field(default=0.1, gt=0)
    psi_fail: float = Field(default=0.25, gt=0)
    fail_on_drift: bool = Field(
        default=True,
        description="exit 5 without publishing when a score's PSI >= psi_fail, or more than "
        "max_drifted_share of the features' PSI >= psi_fail",
    )
    max_drifted_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="share of features allowed beyond psi_fail (single features drift as "
        "time passes, e.g. days-since columns); warned about in the manifest",
    )
    clusters: bool = Field(
        default=True, description="assign the registered clusterer's segments (required if true)"
    )
    experiment: str = Field(default="segml-scoring", description="MLflow experiment of jobs")
    outputs: OutputsConfig = Field(  # left out of dumps (and the config hash) when default
        default_factory=OutputsConfig, exclude_if=_is_default_outputs
    )

    @field_validator("targets")
    @classmethod
    def _registered(cls, value: list[str]) -> list[str]:
        for name in value:
            _registered_target(name, "scoring.targets")
        return value


class DestinationConfig(BaseModel):
    """One export destination: ``type`` (a registered destination, ``segml.exports``), an
    optional ``name`` (default: the type) and the type's options, validated by the destination
    when the exports are built (unknown options are refused there)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="registered destination type, e.g. parquet, csv")
    name: str | None = Field(default=None, description="tells two of one type apart")


def _local_files() -> list[DestinationConfig]:
    return [DestinationConfig(type="parquet"), DestinationConfig(type="csv")]


class ExportsConfig(_Strict):
    """Where segment runs write their audiences (see docs/segments.md, "Destinations")."""

    destinations: list[DestinationConfig] = Field(
        default_factory=_local_files,
        description="each audience goes to every destination; default Parquet and CSV files",
    )


def _is_default(value: ExportsConfig) -> bool:
    return value == ExportsConfig()


class Config(_Strict):
    """The whole job configuration (see ``configs/README.md`` for every key)."""

    data: DataConfig = Field(default_factory=DataConfig)
    job: JobConfig = Field(default_factory=JobConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    clustering: ClusteringConfig = Field(default_factory=ClusteringConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    engine: Literal["polars", "spark"] = "polars"
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking store; default sqlite:///<output_dir>/mlflow.db"
    )
    output_dir: str = "runs"
    segments: str | None = Field(
        default=None, description="rule-set YAML for `segml segment` (see docs/segments.md)"
    )
    exports: ExportsConfig = Field(  # left out of dumps (and the config hash) when default
        default_factory=ExportsConfig, exclude_if=_is_default
    )
    base_dir: str = Field(default=".", description="set by load_config: the config's folder")

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        return resolve_path(path, self.base_dir)


DataSpec: TypeAlias = "DataConfig | Config | None"
"""What the Python API's ``config=`` takes: the data section (column mappings, formats), or for
convenience a whole ``Config``, of which only ``data`` is read (``data_section``)."""


def data_section(config: DataSpec) -> DataConfig:
    """The one conversion below the jobs layer: the data section of ``config`` (defaults for
    None). Jobs pass ``Config.data`` themselves; a whole Config keeps working for notebooks."""
    if isinstance(config, Config):
        return config.data
    return config or DataConfig()


def resolve_path(path: str | Path, base_dir: str | Path) -> Path:
    """``path`` (``~`` expanded) relative to ``base_dir`` unless it is absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config; all failing keys are reported in one ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass --config PATH.")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, found {type(raw).__name__}.")
    raw.setdefault("base_dir", str(path.resolve().parent))
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in err.errors()
        ]
        raise ConfigError(
            f"{path} has {len(lines)} invalid key(s):\n"
            + "\n".join(lines)
            + "\nSee configs/README.md for every key and its default."
        ) from err
