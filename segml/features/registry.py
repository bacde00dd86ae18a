"""Every feature column with a one-line description; docs and reason codes read from here.

Names are ``<family>__<name>``. Names built from a parameter (a window length, a category) are
registered as templates such as ``rfm__orders_{window}d``, and ``describe`` fills them in. The
entries live in the family modules (``segml.features.rfm``, ...) and in any family registered
later (``segml.features.family.register_family``); ``FEATURES`` is a live view of all of them.
What clusters and segment rules read about a column (its kind, its tags) is here as well, so
they never parse column-name prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

# the built-in families, imported in the order of their output columns (each registers itself)
import segml.features.rfm  # isort: skip
import segml.features.affinity  # isort: skip
import segml.features.engagement  # isort: skip
import segml.features.intent  # isort: skip
import segml.features.attributes  # isort: skip
import segml.features.browse  # isort: skip
import segml.features.basket  # isort: skip
import segml.features.timing  # noqa: F401  # isort: skip
from segml.features.family import (
    BLOCK,
    CLUSTER,
    CONSENT,
    REPEATS,
    FeatureInfo,
    registered,
    version,
)

__all__ = [
    "FEATURES",
    "FeatureInfo",
    "block",
    "cluster_patterns",
    "consent_columns",
    "describe",
    "families",
    "is_days",
    "qualifier_words",
    "share_prefixes",
]


class _Features(Mapping[str, FeatureInfo]):
    """Name (or template) -> entry, over every registered family, in registration order."""

    def _all(self) -> dict[str, FeatureInfo]:
        return _index()[0]

    def __getitem__(self, name: str) -> FeatureInfo:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"FEATURES({len(self)} entries from families {families()})"


FEATURES: Mapping[str, FeatureInfo] = _Features()
_CACHE: dict[str, object] = {}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(f"(?P<{p}>.+?)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


def _index() -> tuple[dict[str, FeatureInfo], list[tuple[re.Pattern[str], FeatureInfo]]]:
    """Every entry and the templates' patterns, rebuilt when the registry changes."""
    if _CACHE.get("version") != version():
        entries = {c.name: c for f in registered() for c in f.columns}
        _CACHE["index"] = (
            entries,
            [(_pattern(k), v) for k, v in entries.items() if "{" in k],
        )
        _CACHE["version"] = version()
    return _CACHE["index"]  # type: ignore[return-value]


def describe(name: str) -> FeatureInfo:
    """The registry entry for a concrete column name, templates filled in."""
    entries, templates = _index()
    if name in entries:
        return entries[name]
    for pattern, info in templates:
        match = pattern.match(name)
        if match:
            return FeatureInfo(
                name,
                info.family,
                info.description.format(**match.groupdict()),
                info.unit,
                info.kind,
                info.tags,
            )
    known = ", ".join(sorted(entries)[:5])
    raise KeyError(f"feature {name!r} is not in the registry (e.g. {known}, ...)")


def families() -> list[str]:
    """The names of the registered families (the column prefixes), sorted."""
    return sorted(f.name for f in registered())


def _lookup(name: str) -> FeatureInfo | None:
    try:
        return describe(name)
    except KeyError:
        return None


def is_days(name: str) -> bool:
    """Whether a column is measured in days (registered kind ``days``; for a column not in
    the registry, ``days`` in the part of its name after ``__``)."""
    info = _lookup(name)
    return info.kind == "days" if info is not None else "days" in name.rsplit("__", 1)[-1]


def block(name: str) -> str:
    """The block a column is balanced in by the clusterer: its family, or a ``block:`` tag's
    group within it (the per-category shares); the prefix before ``__`` when unregistered."""
    info = _lookup(name)
    if info is None:
        return name.partition("__")[0]
    group = info.tag_value(BLOCK)
    return info.family if group is None else f"{info.family}__{group}"


def cluster_patterns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The clusterer's default column patterns: every family tagged ``cluster``, minus the
    columns tagged ``repeats`` (as globs: ``rfm__orders_{window}d`` -> ``rfm__orders_*d``)."""
    use = tuple(f"{f.name}__*" for f in registered() if CLUSTER in f.tags)
    skip = tuple(
        re.sub(r"\{\w+\}", "*", c.name)
        for f in registered()
        if CLUSTER in f.tags
        for c in f.columns
        if REPEATS in c.tags
    )
    return use, skip


def consent_columns() -> dict[str, str]:
    """channel -> the consent flag column that gates it (columns tagged ``consent:<channel>``)."""
    return {
        channel: c.name
        for f in registered()
        for c in f.columns
        if (channel := c.tag_value(CONSENT)) is not None
    }


def qualifier_words() -> dict[str, tuple[str, str]]:
    """column -> (lower, higher) words segment names use (columns registered with ``words``;
    concrete names only)."""
    return {
        c.name: c.words
        for f in registered()
        for c in f.columns
        if c.words is not None and "{" not in c.name
    }


def share_prefixes() -> tuple[str, ...]:
    """The name prefixes of per-category share templates (``affinity__spend_share_``, ...):
    templates of kind ``share`` whose one placeholder ends the name."""
    return tuple(
        c.name.split("{", 1)[0]
        for f in registered()
        for c in f.columns
        if c.kind == "share" and re.fullmatch(r"[^{]*\{\w+\}", c.name)
    )
