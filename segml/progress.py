"""Progress of the long steps, reported through one small interface.

Library code marks a long step with ``step`` and advances it; nothing is shown unless a
``Reporter`` is installed (``reporting``), so a notebook or a library user sees nothing they did
not ask for. The command line installs a renderer (``segml.console``): a live line on a terminal,
plain timestamped lines in a scheduler's log.

    with step("train purchase", total=len(cutoffs), unit="cutoffs") as task:
        for cutoff in cutoffs:
            ...
            task.advance(note=f"cutoff {cutoff:%Y-%m-%d}")

Steps nest (``segml run`` > ``train`` > ``train purchase`` > ``tuning``); a reporter gets each
task's ``depth``. This module imports nothing from segml, so every layer may use it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

__all__ = ["Reporter", "Task", "current_reporter", "reporting", "step", "track"]

T = TypeVar("T")


@dataclass
class Task:
    """One long step: ``done`` of ``total`` (None: unknown) ``unit``, the latest ``note``."""

    label: str
    total: int | None = None
    unit: str = ""
    depth: int = 0
    done: int = 0
    note: str = ""
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    error: BaseException | None = None
    _reporter: Reporter | None = field(default=None, repr=False, compare=False)

    def advance(self, n: int = 1, *, note: str | None = None) -> None:
        """``n`` more units done; ``note`` (e.g. "best 0.412") replaces the previous one."""
        self.done += n
        if note is not None:
            self.note = note
        if self._reporter is not None:
            self._reporter.advanced(self)

    def elapsed(self, now: float | None = None) -> float:
        end = self.ended_at if self.ended_at is not None else (now or time.monotonic())
        return max(0.0, end - self.started_at)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far; None when it cannot be estimated (no total, nothing
        done yet, or finished)."""
        if self.total is None or self.done <= 0 or self.done >= self.total:
            return None
        return self.elapsed(now) / self.done * (self.total - self.done)


class Reporter(Protocol):
    """What a renderer implements; each call comes from the thread running the step."""

    def started(self, task: Task) -> None: ...

    def advanced(self, task: Task) -> None: ...

    def finished(self, task: Task) -> None: ...


_REPORTER: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "segml_progress_reporter", default=None
)
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("segml_progress_depth", default=0)


def current_reporter() -> Reporter | None:
    return _REPORTER.get()


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[Reporter | None]:
    """Send the progress of the steps run inside the block to ``reporter`` (None: nowhere)."""
    token = _REPORTER.set(reporter)
    try:
        yield reporter
    finally:
        _REPORTER.reset(token)


@contextmanager
def step(label: str, *, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """A long step. Without a reporter it only counts (no output, negligible cost)."""
    reporter = _REPORTER.get()
    task = Task(label, total=total, unit=unit, depth=_DEPTH.get(), _reporter=reporter)
    token = _DEPTH.set(task.depth + 1)
    if reporter is not None:
        reporter.started(task)
    try:
        yield task
    except GeneratorExit:  # a loop over ``track`` left early: not a failure
        raise
    except BaseException as err:
        task.error = err
        raise
    finally:
        _DEPTH.reset(token)
        task.ended_at = time.monotonic()
        if reporter is not None:
            reporter.finished(task)


def track(
    items: Iterable[T], label: str, *, total: int | None = None, unit: str = ""
) -> Iterator[T]:
    """Iterate ``items`` inside ``step(label)``, advancing once per item."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with step(label, total=total, unit=unit) as task:
        for item in items:
            yield item
            task.advance()
