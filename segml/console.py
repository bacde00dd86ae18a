"""What the command line shows while it works: progress, log lines and warnings, on stderr.

``session`` installs, for one command, a renderer of ``segml.progress`` steps and a logging
handler through it: on a terminal a live status line (the open steps, a bar, elapsed time, an
estimate of the time left) redrawn a few times a second above which log lines scroll; otherwise
(a scheduler's log) plain timestamped lines. ``--quiet`` shows warnings and errors only,
``--verbose`` adds segml's debug lines and third-party messages (MLflow, Optuna, LightGBM,
SQLAlchemy, alembic, warnings raised outside segml), which are hidden by default. Everything it
changes (handlers, levels, ``warnings.showwarning``) is restored when the session ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from segml.progress import Task, current_reporter, reporting

__all__ = ["PlainRenderer", "TerminalRenderer", "echo", "fmt_seconds", "session"]

QUIET, NORMAL, VERBOSE = -1, 0, 1
THIRD_PARTY = ("mlflow", "alembic", "sqlalchemy", "optuna", "lightgbm", "shap", "matplotlib")
_SEGML_DIR = str(Path(__file__).resolve().parent)
_SPINNER = "|/-\\"


def fmt_seconds(seconds: float) -> str:
    """0:07, 1:02, 1:02:03."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _count(task: Task) -> str:
    unit = f" {task.unit}" if task.unit else ""
    if task.total is None:
        return f"{task.done}{unit}" if task.done else ""
    return f"{task.done}/{task.total}{unit}"


def _timing(task: Task, now: float, *, spent: float | None = None) -> str:
    text = fmt_seconds(task.elapsed(now) if spent is None else spent)
    eta = task.eta(now)
    return f"{text}, ~{fmt_seconds(eta)} left" if eta is not None else text


def _done_line(task: Task) -> str:
    count = (
        _count(task)
        if task.total is None or task.done != task.total
        else (f"{task.total} {task.unit}".strip())
    )
    what = f" ({count})" if count else ""
    if task.error is not None:
        return f"{task.label} failed after {fmt_seconds(task.elapsed())}{what}"
    return f"{task.label} done in {fmt_seconds(task.elapsed())}{what}"


class PlainRenderer:
    """One timestamped line per event: a step starting, advancing (at most every
    ``min_interval`` seconds per step, and always its last unit) and ending; log lines the
    same way. For logs that are not a terminal."""

    def __init__(
        self, stream: IO[str], *, min_interval: float = 10.0, heartbeat: float | None = 60.0
    ) -> None:
        self.stream = stream
        self.min_interval = min_interval
        self._last: dict[int, float] = {}
        self._open: list[Task] = []
        self._written = time.monotonic()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if heartbeat:
            self._thread = threading.Thread(target=self._loop, args=(heartbeat,), daemon=True)
            self._thread.start()

    def _loop(self, heartbeat: float) -> None:
        while not self._stop.wait(min(heartbeat, 5.0)):
            self.beat(heartbeat)

    def beat(self, heartbeat: float, now: float | None = None) -> None:
        """A "still working" line when a step has been silent for ``heartbeat`` seconds, so a
        log shows the job is alive during one long fit or upload."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._open and now - self._written >= heartbeat:
                labels = " > ".join(t.label for t in self._open)
                self.line(f"still working: {labels} ({fmt_seconds(self._open[-1].elapsed(now))})")

    def line(self, text: str) -> None:
        stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            for part in text.splitlines() or [""]:
                self.stream.write(f"{stamp} {part}\n")
            self.stream.flush()
            self._written = time.monotonic()

    def started(self, task: Task) -> None:
        total = f" ({task.total} {task.unit})".rstrip() if task.total is not None else ""
        with self._lock:
            self._last[id(task)] = time.monotonic()
            self._open.append(task)
            self.line(f"{task.label}: started{total}")

    def advanced(self, task: Task) -> None:
        now = time.monotonic()
        last = task.total is not None and task.done >= task.total
        if not last and now - self._last.get(id(task), 0.0) < self.min_interval:
            return
        self._last[id(task)] = now
        note = f" ({task.note})" if task.note else ""
        self.line(f"{task.label}: {_count(task)}, {_timing(task, now)}{note}")

    def finished(self, task: Task) -> None:
        with self._lock:
            self._last.pop(id(task), None)
            if task in self._open:
                self._open.remove(task)
            self.line(_done_line(task))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class TerminalRenderer:
    """A status line at the bottom of the terminal, redrawn every ``refresh`` seconds (elapsed
    time moves even while one long fit runs); finished steps of depth < ``keep_depth`` and log
    lines are written above it and stay."""

    def __init__(
        self, stream: IO[str], *, refresh: float = 0.2, keep_depth: int = 2, live: bool = True
    ) -> None:
        self.stream = stream
        self.keep_depth = keep_depth
        self._open: list[Task] = []
        self._lock = threading.RLock()
        self._drawn = False
        self._tick = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if live:
            self._thread = threading.Thread(target=self._loop, args=(refresh,), daemon=True)
            self._thread.start()

    def _loop(self, refresh: float) -> None:
        while not self._stop.wait(refresh):
            self.draw()

    def status(self, now: float | None = None) -> str:
        """The status line: the open steps outermost first, the innermost one's count, bar,
        elapsed time and estimate, and its note."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self._open:
                return ""
            inner, outer = self._open[-1], self._open[0]
            labels = " > ".join(t.label for t in self._open)
            parts = [f"{_SPINNER[self._tick % len(_SPINNER)]} {labels}"]
            if inner.total:
                filled = int(20 * min(inner.done, inner.total) / inner.total)
                parts.append(f"[{'#' * filled}{'.' * (20 - filled)}]")
            count = _count(inner)
            if count:
                parts.append(count)
            parts.append(_timing(inner, now))
            if outer is not inner:
                parts.append(f"(total {fmt_seconds(outer.elapsed(now))})")
            if inner.note:
                parts.append(inner.note)
            return "  ".join(parts)

    def draw(self) -> None:
        with self._lock:
            self._tick += 1
            text = self.status()
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self._clear()
            if text:
                self.stream.write(text[:width])
                self._drawn = True
            self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False

    def line(self, text: str) -> None:
        with self._lock:
            self._clear()
            self.stream.write(text.rstrip("\n") + "\n")
            self.draw()

    def write_to(self, text: str, stream: IO[str]) -> None:
        """``text`` on another stream sharing the terminal (stdout), with the status line
        cleared first and redrawn after."""
        with self._lock:
            self._clear()
            self.stream.flush()
            stream.write(text.rstrip("\n") + "\n")
            stream.flush()
            self.draw()

    def started(self, task: Task) -> None:
        with self._lock:
            self._open.append(task)
            self.draw()

    def advanced(self, task: Task) -> None:
        self.draw()

    def finished(self, task: Task) -> None:
        with self._lock:
            if task in self._open:
                self._open.remove(task)
            if task.depth < self.keep_depth or task.error is not None:
                mark = "x" if task.error is not None else "ok"
                self.line(f"{'  ' * task.depth}{mark} {_done_line(task)}")
            else:
                self.draw()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._open.clear()
            self._clear()
            self.stream.flush()


Renderer = PlainRenderer | TerminalRenderer


def echo(text: str, stream: IO[str]) -> None:
    """Write a result line to ``stream`` (stdout) without tearing a live status line."""
    renderer = current_reporter()
    if isinstance(renderer, TerminalRenderer):
        renderer.write_to(text, stream)
    else:
        stream.write(text.rstrip("\n") + "\n")
        stream.flush()


class _RendererHandler(logging.Handler):
    """Log records through the renderer (so they never tear the status line): segml's at the
    session's level, third-party ones only at ERROR unless verbose."""

    def __init__(self, renderer: Renderer, *, verbosity: int) -> None:
        super().__init__(logging.DEBUG)
        self.renderer = renderer
        self.verbosity = verbosity
        self.own_level = {QUIET: logging.WARNING, NORMAL: logging.INFO}.get(
            verbosity, logging.DEBUG
        )

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name == "segml" or record.name.startswith("segml.")
        floor = self.own_level if ours else (logging.INFO if self.verbosity >= VERBOSE else 40)
        if record.levelno < floor:
            return
        try:
            text = record.getMessage()
            if record.levelno >= logging.WARNING:
                text = f"{record.levelname.lower()}: {text}"
            if not ours:
                text = f"[{record.name}] {text}"
            self.renderer.line(text)
        except Exception:  # a broken record must not stop the job
            self.handleError(record)


def _show_warning(verbosity: int) -> Any:
    log = logging.getLogger("segml.warnings")

    def show(message: Any, category: type[Warning], filename: str, lineno: int, *_: Any) -> None:
        """segml's own warnings as one clean line; others (MLflow's schema hints, LightGBM's,
        sklearn's) only with --verbose, with where they came from."""
        if str(Path(filename).resolve()).startswith(_SEGML_DIR):
            log.warning("%s", message)
        elif verbosity >= VERBOSE:
            log.info("%s (%s, %s:%d)", message, category.__name__, filename, lineno)

    return show


@contextmanager
def session(*, verbosity: int = NORMAL, stream: IO[str], terminal: bool | None = None,
            min_interval: float = 10.0) -> Iterator[Renderer]:  # fmt: skip
    """Install the renderer, the log handler and the warnings filter for one command."""
    is_tty = bool(getattr(stream, "isatty", lambda: False)()) if terminal is None else terminal
    renderer: Renderer = (
        TerminalRenderer(stream) if is_tty else PlainRenderer(stream, min_interval=min_interval)
    )
    handler = _RendererHandler(renderer, verbosity=verbosity)
    root, segml_log = logging.getLogger(), logging.getLogger("segml")
    saved = [(root, root.level), (segml_log, segml_log.level)]
    saved += [(logging.getLogger(n), logging.getLogger(n).level) for n in THIRD_PARTY]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= VERBOSE else logging.INFO)
    segml_log.setLevel(handler.own_level)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.INFO if verbosity >= VERBOSE else logging.ERROR)
    show = warnings.showwarning
    warnings.showwarning = _show_warning(verbosity)
    try:
        with reporting(renderer if verbosity > QUIET else None):
            yield renderer
    finally:
        renderer.close()
        warnings.showwarning = show
        root.removeHandler(handler)
        for logger, level in saved:
            logger.setLevel(level)
