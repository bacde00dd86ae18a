"""Destinations: where a segment run's audiences go, and the registry that names them.

A destination is a class with a ``type`` name (what ``exports.destinations[].type`` says in the
config), an ``Options`` model (pydantic, unknown keys refused) for its settings, ``plan`` (what
it would write for the run's audiences: relative path -> frame, plus a summary for the
manifest) and ``write_file`` (writes one planned frame, atomically, through ``segml.io``). The
run folder is written and published by ``segml.exports.write_exports``; a destination never
picks paths outside it.

Add one by subclassing ``Destination`` and decorating it with ``@register_destination``: its
module is the only file to add (docs/architecture.md; the worked example is
``tests/exports/test_destinations.py``, a JSON-lines destination registered from the test).
"""

from __future__ import annotations

import builtins
import datetime as dt
import importlib
import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError

from segml.errors import ConfigError
from segml.segments.rules import SegmentRule

__all__ = [
    "Audience",
    "Destination",
    "DestinationOptions",
    "Plan",
    "build_destinations",
    "destination_types",
    "register_destination",
]

RUN_FILES = frozenset(
    {"members.parquet", "transitions.parquet", "transitions.csv", "report.json", "_manifest.json"}
)


@dataclass(frozen=True)
class Audience:
    """Who may be contacted for one segment on one channel: ``frame`` holds ``customer_id``,
    ``segment``, ``channel``, ``control`` (true: the hold-out, never send), ``message``,
    ``offer``, ``window_start``, ``window_end``, then the columns that qualified them."""

    segment: str
    channel: str
    rule: SegmentRule
    frame: pl.DataFrame
    as_of: dt.datetime | None = None  # the segmentation's as-of date (None: not given)


@dataclass(frozen=True)
class Plan:
    """What a destination writes: relative path in the run folder -> frame, a summary for
    the manifest (``exports.<name>``; empty: nothing beyond the files' rows and hashes), and
    per file the customers left out of it by reason (shown by the dry run)."""

    files: dict[str, pl.DataFrame]
    summary: dict[str, Any] = field(default_factory=dict)
    excluded: dict[str, dict[str, int]] = field(default_factory=dict)


class DestinationOptions(BaseModel):
    """Base of a destination's options: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Destination(ABC):
    """One place audiences are written. Subclasses set ``type`` and ``Options`` and implement
    ``plan`` and ``write_file``; ``name`` tells two destinations of one type apart."""

    type: ClassVar[str]
    Options: ClassVar[builtins.type[DestinationOptions]] = DestinationOptions

    def __init__(self, *, name: str | None = None, **options: Any) -> None:
        self.name = name or self.type
        try:
            self.options = self.Options.model_validate(options)
        except ValidationError as err:
            raise ConfigError(_options_message(self.name, self.type, err)) from err

    @abstractmethod
    def plan(self, audiences: Sequence[Audience]) -> Plan:
        """The files this destination writes for ``audiences`` (nothing is written)."""

    @abstractmethod
    def write_file(self, frame: pl.DataFrame, path: Any) -> None:
        """Write ``frame`` to ``path`` atomically (``segml.io.atomic_file`` / ``write_frame``)."""

    def reads(self) -> list[str]:
        """Customer-table columns this destination needs beside the audience columns (e.g. an
        email column). They are read in the segmentation's one pass and appended to the frames
        of its audiences where the table has them; a missing one is simply absent (say so in
        the plan's summary)."""
        return []

    def contacts(self) -> list[str]:
        """Contact columns of the customers table (personal data: ``email``, ``phone``,
        ``first_name``, ``last_name``, ``postal_code``) this destination needs. They never pass
        through the scored table: ``write_exports(..., contacts=...)`` joins them on
        ``customer_id`` to this destination's audiences only, as ``contact__<name>`` columns
        (absent when the customers table has no such column)."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.options!r})"


_REGISTRY: dict[str, type[Destination]] = {}


def register_destination(cls: type[Destination]) -> type[Destination]:
    """Class decorator: make ``cls`` available as ``exports.destinations[].type: <cls.type>``.
    Registering another class under a taken type is refused (re-registering the same class,
    e.g. on a module reload, is not)."""
    kind = getattr(cls, "type", None)
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ConfigError(
            f"destination class {cls.__name__} needs a class attribute type = '<name>' (an "
            f"identifier, e.g. 'jsonl'); found {kind!r}."
        )
    taken = _REGISTRY.get(kind)
    if taken is not None and taken.__qualname__ != cls.__qualname__:
        raise ConfigError(
            f"destination type {kind!r} is already registered by {taken.__module__}."
            f"{taken.__qualname__}; give {cls.__name__} another type name."
        )
    _REGISTRY[kind] = cls
    return cls


def destination_types() -> list[str]:
    """The registered destination types, sorted."""
    return sorted(_REGISTRY)


def build_destinations(
    specs: Sequence[Any], *, where: str = "exports.destinations"
) -> list[Destination]:
    """Destinations from config entries (mappings or pydantic models with ``type``, optional
    ``name`` and the type's options) or ready ``Destination`` objects. Every problem (an
    unknown type, bad options, a repeated name) is reported at once in one ConfigError."""
    out: list[Destination] = []
    errors: list[str] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, Destination):
            out.append(spec)
            continue
        entry = dict(spec.model_dump() if isinstance(spec, BaseModel) else spec)
        kind = entry.pop("type", None)
        try:
            out.append(_lookup(kind)(**entry))
        except ConfigError as err:
            errors.append(f"  {where}[{i}]{'.type' if kind not in _REGISTRY else ''}: {err}")
    names = [d.name for d in out]
    errors += [
        f"  {where}: the name {n!r} is used by {names.count(n)} destinations; give each a "
        "distinct name:"
        for n in sorted({n for n in names if names.count(n) > 1})
    ]
    if errors:
        raise ConfigError(
            f"{len(errors)} export destination problem(s):\n"
            + "\n".join(errors)
            + "\nSee configs/README.md (exports:) for the destination types and their options."
        )
    return out


def _lookup(kind: Any) -> builtins.type[Destination]:
    """The class registered as ``kind``, or for ``package.module:Class`` that class (imported,
    so a destination outside segml can be named in a config, as kedro names dataset types)."""
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    if isinstance(kind, str) and ":" in kind:
        module, _, name = kind.partition(":")
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"destination type {kind!r} could not be imported: {err}") from err
        if isinstance(found, builtins.type) and issubclass(found, Destination):
            return found
        raise ConfigError(f"{kind!r} is not a segml.exports.Destination subclass.")
    raise ConfigError(
        f"unknown destination type {kind!r}; registered: {destination_types()} (or name a "
        "class as 'package.module:Class')"
    )


def _options_message(name: str, kind: str, err: ValidationError) -> str:
    fields = [
        f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']} (got {e.get('input')!r})"
        for e in err.errors()
    ]
    return f"destination {name!r} (type {kind}): " + "; ".join(fields)


def check_path_template(template: str, *, suffixes: tuple[str, ...]) -> str:
    """A relative path template with ``{segment}`` and ``{channel}`` (each audience its own
    file) and one of ``suffixes``; raises ValueError (pydantic reports it) otherwise."""
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if fields != {"segment", "channel"}:
        raise ValueError(
            f"must use exactly the placeholders {{segment}} and {{channel}}, found "
            f"{sorted(fields)}, e.g. 'audiences/{{segment}}/{{channel}}{suffixes[0]}'"
        )
    path = PurePosixPath(template)
    if path.is_absolute() or ".." in path.parts or template.startswith("~"):
        raise ValueError("must be relative to the run folder, without '..'")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"must end in {' or '.join(suffixes)}, found {path.suffix!r}")
    return template


def audience_paths(template: str, audiences: Sequence[Audience]) -> dict[str, Audience]:
    """Each audience's file under ``template``."""
    return {template.format(segment=a.segment, channel=a.channel): a for a in audiences}
