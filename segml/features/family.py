"""The feature family interface and the registry of families.

A feature family is one module: the columns it produces (each with a description, a unit, a
kind and tags), the tables it needs, what it learns at fit time and how it computes its columns
as of a cutoff on Narwhals lazy frames. ``register_family`` adds it to the registry;
``FeatureBuilder`` iterates the registry, ``segml.describe`` reads the columns, and clusters,
profiles and segment rules read the tags (not column-name prefixes).

How a family computes (``FeatureFamily.plan``) is a ``FamilyPlan`` the builder assembles into one
query: per-customer aggregate ``frames`` joined on ``customer_id``, aggregations over each
customer's events before the cutoff (``event_aggs``, all families' in one shared group_by), and
the ``finish`` expressions that give the output columns after the joins. See
``tests/features/test_family.py`` for a family registered from outside segml.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import narwhals.stable.v2 as nw

if TYPE_CHECKING:
    from segml.schema import ShopData

__all__ = [
    "ATTRIBUTE",
    "BEHAVIOURAL",
    "BLOCK",
    "CLUSTER",
    "CONSENT",
    "KINDS",
    "REPEATS",
    "WORDS",
    "FamilyPlan",
    "FeatureContext",
    "FeatureFamily",
    "FeatureInfo",
    "Table",
    "column",
    "get_family",
    "register_family",
    "registered",
    "registered_family",
    "unregister_family",
    "version",
]

Table = Literal["orders", "events", "customers"]

# Family tags
BEHAVIOURAL = "behavioural"  # computed from what customers did (orders, events)
ATTRIBUTE = "attribute"  # passed through or derived from the customers table
CLUSTER = "cluster"  # the clusterer uses the family's columns by default
# Column tags
REPEATS = "repeats"  # repeats another column over a shorter window: the clusterer leaves it out
CONSENT = "consent:"  # "consent:<channel>": the consent flag segment rules gate that channel on
BLOCK = "block:"  # "block:<name>": one of a group of columns the clusterer balances as a block
WORDS = "words:"  # "words:<lower>|<higher>": how segment names say a segment is lower/higher

# What a column measures; the clusterer imputes a missing "days" column with the largest value
# seen ("longer ago than anyone") and every other kind with 0.
KINDS = ("count", "amount", "days", "share", "rate", "ratio", "flag", "text", "number")


@dataclass(frozen=True)
class FeatureInfo:
    """One registered column (or a template such as ``rfm__orders_{window}d``)."""

    name: str
    family: str
    description: str
    unit: str = ""
    kind: str = "number"
    tags: frozenset[str] = frozenset()

    def tag_value(self, prefix: str) -> str | None:
        """The value of the tag ``<prefix><value>`` (e.g. ``consent:email`` -> ``email``)."""
        found = [t.removeprefix(prefix) for t in self.tags if t.startswith(prefix)]
        return found[0] if found else None

    @property
    def words(self) -> tuple[str, str] | None:
        """(lower, higher): how segment names say a segment is below / above others."""
        value = self.tag_value(WORDS)
        if value is None:
            return None
        lower, _, higher = value.partition("|")
        return lower, higher


def column(
    name: str,
    description: str,
    kind: str,
    unit: str = "",
    *,
    tags: Sequence[str] = (),
    words: tuple[str, str] | None = None,
) -> FeatureInfo:
    """A registry entry; the family is the name's prefix before ``__``. ``words`` say how a
    segment name reads when a segment is lower / higher than others on this column."""
    if kind not in KINDS:
        raise ValueError(f"feature {name!r}: kind must be one of {KINDS}, got {kind!r}")
    all_tags = [*tags, *([f"{WORDS}{words[0]}|{words[1]}"] if words else [])]
    return FeatureInfo(name, name.split("__", 1)[0], description, unit, kind, frozenset(all_tags))


@dataclass(frozen=True)
class FeatureContext:
    """What a family's computation sees: the prepared tables, the cutoff (epoch days), the
    builder's settings (``windows_days`` sorted and unique, ``engagement_window_days``, ...), the
    family's own parameters (its ``defaults`` updated with ``family_params[name]``) and what it
    learned at fit time (``state``)."""

    shop: ShopData
    cut: float
    settings: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)

    def table(self, name: Table) -> nw.LazyFrame[Any]:
        """A table the family needs (``needs`` guarantees it is there)."""
        frame: nw.LazyFrame[Any] | None = getattr(self.shop, name)
        if frame is None:
            raise ValueError(f"the shop has no {name} table; list it in the family's needs")
        return frame

    def has(self, table: Table, column: str | None = None) -> bool:
        frame = getattr(self.shop, table)
        return frame is not None and (column is None or column in frame.collect_schema().names())


@dataclass
class FamilyPlan:
    """How a family's columns are computed, for the builder to assemble into one query.

    frames : per-customer aggregates (one row per ``customer_id``), left-joined to the
        customers known at the cutoff.
    covers : tables every customer of which (rows strictly before the cutoff) has a row in
        ``frames``; the builder then takes the known customers from them (no extra scan).
    event_aggs : aggregations over each customer's events before the cutoff; every family's run
        in one shared group_by, which also gives the known customers of the events table.
    event_joins : per-customer frames joined to every event first (columns ``event_aggs`` read).
    finish : the output columns, in order, as expressions over the joined aggregates.
    """

    frames: list[nw.LazyFrame[Any]] = field(default_factory=list)
    covers: frozenset[str] = frozenset()
    event_aggs: list[nw.Expr] = field(default_factory=list)
    event_joins: list[nw.LazyFrame[Any]] = field(default_factory=list)
    finish: list[nw.Expr] = field(default_factory=list)


class FeatureFamily(ABC):
    """Base class of a feature family; subclass it in one module and ``register_family`` it.

    Class attributes: ``name`` (the column prefix), ``description``, ``columns`` (registry
    entries, templates allowed), ``needs`` (tables without which it has no columns), ``tags``
    (family tags such as ``BEHAVIOURAL``, ``CLUSTER``), ``defaults`` (its own parameters, set
    per run with ``FeatureBuilder(family_params={name: {...}})`` or ``features.family_params``),
    ``opt_in`` (True: built only when named in ``families``, not by default).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    columns: ClassVar[tuple[FeatureInfo, ...]] = ()
    needs: ClassVar[frozenset[str]] = frozenset({"orders"})
    tags: ClassVar[frozenset[str]] = frozenset()
    defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    opt_in: ClassVar[bool] = False

    def learn(self, ctx: FeatureContext) -> dict[str, Any]:
        """What must stay fixed between training and scoring, from history before the cutoff
        (e.g. the top categories); stored by the builder and passed back as ``ctx.state``."""
        return {}

    @abstractmethod
    def plan(self, ctx: FeatureContext) -> FamilyPlan:
        """How the family's columns are computed as of ``ctx.cut`` (every subclass defines it;
        without it the class cannot be instantiated, so it can never be registered)."""

    def available(self, shop: ShopData) -> bool:
        """Whether the shop has every table the family needs."""
        return all(getattr(shop, table) is not None for table in self.needs)


_FAMILIES: dict[str, FeatureFamily] = {}
_VERSION = [0]  # bumped on every change, so readers can cache what they derive from it


def _check(family: FeatureFamily) -> None:
    name = family.name
    if not name or not name.isidentifier() or "__" in name:
        raise ValueError(
            f"a feature family needs a name that is an identifier without '__' (the column "
            f"prefix), got {name!r}"
        )
    bad = [c.name for c in family.columns if c.family != name]
    if bad:
        raise ValueError(
            f"feature family {name!r}: every column must be named '{name}__<name>'; got {bad[:3]}"
        )
    unknown = sorted(set(family.needs) - {"orders", "events", "customers"})
    if unknown:
        raise ValueError(
            f"feature family {name!r} needs unknown tables {unknown}; tables are orders, "
            "events and customers"
        )


def register_family(family: FeatureFamily, *, replace: bool = False) -> FeatureFamily:
    """Add ``family`` to the registry (after those already there; the output column order).

    A second family of the same name is an error unless ``replace``. Returns ``family``.
    """
    _check(family)
    if family.name in _FAMILIES and not replace:
        raise ValueError(
            f"a feature family named {family.name!r} is already registered "
            f"({type(_FAMILIES[family.name]).__name__}); pass replace=True to replace it"
        )
    _FAMILIES[family.name] = family
    _VERSION[0] += 1
    return family


def unregister_family(name: str) -> None:
    """Remove a family from the registry (tests and plugins that register temporarily)."""
    get_family(name)
    del _FAMILIES[name]
    _VERSION[0] += 1


@contextmanager
def registered_family(family: FeatureFamily) -> Iterator[FeatureFamily]:
    """Register ``family`` for the duration of a ``with`` block."""
    register_family(family)
    try:
        yield family
    finally:
        unregister_family(family.name)


def registered() -> list[FeatureFamily]:
    """Every registered family, in registration order (the order of the output columns)."""
    return list(_FAMILIES.values())


def get_family(name: str) -> FeatureFamily:
    if name not in _FAMILIES:
        raise KeyError(
            f"no feature family named {name!r}; registered families are {sorted(_FAMILIES)}"
        )
    return _FAMILIES[name]


def version() -> int:
    return _VERSION[0]
