"""Progress steps (silent by default), the terminal and plain-line renderers, and the console
session of the command line: --quiet / --verbose, third-party noise hidden by default."""

from __future__ import annotations

import io
import logging
import re
import warnings

import pytest

from segml import console
from segml.progress import Task, current_reporter, reporting, step, track

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, int]] = []

    def started(self, task: Task) -> None:
        self.events.append(("start", task.label, task.depth, task.done))

    def advanced(self, task: Task) -> None:
        self.events.append(("advance", task.label, task.depth, task.done))

    def finished(self, task: Task) -> None:
        self.events.append(("end", task.label, task.depth, task.done))


def test_steps_are_silent_without_a_reporter(capsys) -> None:
    assert current_reporter() is None
    with step("outer", total=2) as task:
        assert list(track([1, 2, 3], "inner")) == [1, 2, 3]
        task.advance(note="half")
    assert (task.done, task.note, task.ended_at is not None) == (1, "half", True)
    assert capsys.readouterr() == ("", "")


def test_steps_nest_and_report_to_the_installed_reporter() -> None:
    rec = Recorder()
    with reporting(rec), step("train", total=2, unit="targets") as outer:
        for _ in track(["a", "b"], "purchase features", unit="cutoffs"):
            pass
        outer.advance()
    assert rec.events == [
        ("start", "train", 0, 0),
        ("start", "purchase features", 1, 0),
        ("advance", "purchase features", 1, 1),
        ("advance", "purchase features", 1, 2),
        ("end", "purchase features", 1, 2),
        ("advance", "train", 0, 1),
        ("end", "train", 0, 1),
    ]
    assert current_reporter() is None  # uninstalled after the block


def test_a_failing_step_records_its_error_and_reraises() -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="boom"), reporting(rec), step("fit") as task:
        raise ValueError("boom")
    assert isinstance(task.error, ValueError) and rec.events[-1][0] == "end"


def test_eta_at_the_pace_so_far() -> None:
    task = Task("x", total=4, started_at=100.0)
    assert task.eta(now=110.0) is None  # nothing done yet
    task.done = 1
    assert task.eta(now=110.0) == pytest.approx(30.0)
    task.done = 4
    assert task.eta(now=140.0) is None
    assert [console.fmt_seconds(s) for s in (7, 62, 3723)] == ["0:07", "1:02", "1:02:03"]


def test_plain_renderer_writes_timestamped_lines_and_throttles_advances() -> None:
    out = io.StringIO()
    renderer = console.PlainRenderer(out, min_interval=3600)
    with reporting(renderer), step("purchase features", total=3, unit="cutoffs") as task:
        task.advance(note="cutoff 2011-01-01")  # within min_interval of the start: not written
        task.advance()
        task.advance(note="cutoff 2011-03-01")  # the last one is always written
    lines = out.getvalue().splitlines()
    assert all(re.match(STAMP, line) for line in lines), lines
    text = [line[20:] for line in lines]
    assert text[0] == "purchase features: started (3 cutoffs)"
    assert re.fullmatch(r"purchase features: 3/3 cutoffs, 0:00 \(cutoff 2011-03-01\)", text[1])
    assert text[2] == "purchase features done in 0:00 (3 cutoffs)"
    assert len(lines) == 3


def test_plain_renderer_says_a_silent_step_is_still_working() -> None:
    out = io.StringIO()
    renderer = console.PlainRenderer(out, heartbeat=None)
    with reporting(renderer), step("train"), step("value log to MLflow") as task:
        renderer.beat(60, now=task.started_at + 30)  # quiet for less than a minute: nothing
        assert "still working" not in out.getvalue()
        renderer.beat(60, now=renderer._written + 61)
    assert re.search(
        STAMP + r"still working: train > value log to MLflow \(\d:\d\d\)\n", out.getvalue()
    ), out.getvalue()


def test_terminal_renderer_draws_a_status_line_and_keeps_finished_stages() -> None:
    out = io.StringIO()
    renderer = console.TerminalRenderer(out, live=False)
    outer = step("train", total=3, unit="targets")
    with reporting(renderer), outer, step("purchase features", total=4, unit="cutoffs") as task:
        task.advance(note="cutoff 2011-02-01")
        status = renderer.status(now=task.started_at + 10)
        renderer.line("a log line")
        results = io.StringIO()
        console.echo("a result on stdout", results)  # clears the status line, then redraws
        redrawn = out.getvalue().rsplit("\r\x1b[2K", 1)[1]
        assert redrawn[2:].startswith("train > purchase features  [#####")
        assert results.getvalue() == "a result on stdout\n"
    assert re.search(
        r"train > purchase features  \[#####\.{15}\]  1/4 cutoffs  0:10, ~0:30 left  "
        r"\(total 0:\d\d\)  cutoff 2011-02-01",
        status,
    ), status
    text = out.getvalue()
    assert "\r\x1b[2Ka log line\n" in text  # the status line is cleared before a log line
    assert "  ok purchase features done in" in text and "ok train done in" in text
    renderer.close()
    assert renderer.status() == ""


@pytest.fixture
def logs_restored():
    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogger("mlflow").level)
    yield
    assert (list(root.handlers), root.level, logging.getLogger("mlflow").level) == before


def _speak() -> None:
    """One segml info line, one segml debug line, third-party info and error lines, and a
    warning raised outside segml and one inside."""
    logging.getLogger("segml.jobs").info("segml info")
    logging.getLogger("segml.jobs").debug("segml debug")
    # loggers that no library reconfigures when imported (MLflow gives its own loggers, and
    # SQLAlchemy's and alembic's, a handler of their own; segml.tracking quiets those)
    logging.getLogger("lightgbm.basic").info("Successfully registered model 'x'.")
    logging.getLogger("shap.explainers").info("Context impl SQLiteImpl.")
    logging.getLogger("matplotlib.font_manager").error("database is locked")
    warnings.warn_explicit(
        "Hint: Inferred schema contains integer column(s)", UserWarning,
        "/venv/site-packages/mlflow/types/utils.py", 452,
    )  # fmt: skip
    warnings.warn_explicit(
        "orders has 3 rows with a negative price", UserWarning, console.__file__, 1
    )


@pytest.mark.parametrize(
    ("verbosity", "shown", "hidden"),
    [
        (console.QUIET, ["warning: orders has 3", "[matplotlib.font_manager] error: database"],
         ["segml info", "segml debug", "Successfully", "Context impl", "Hint:", "started"]),
        (console.NORMAL, ["segml info", "warning: orders has 3", "step: started"],
         ["segml debug", "Successfully", "Context impl", "Hint:"]),
        (console.VERBOSE, ["segml info", "segml debug", "[lightgbm.basic] Successfully",
                           "[shap.explainers] Context impl", "Hint: Inferred",
                           "mlflow/types/utils.py:452"], []),
    ],
    ids=["quiet", "normal", "verbose"],
)  # fmt: skip
def test_session_levels_and_third_party_noise(
    verbosity: int, shown: list[str], hidden: list[str], logs_restored
) -> None:
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with console.session(verbosity=verbosity, stream=out, terminal=False), step("step"):
            _speak()
    text = out.getvalue()
    for s in shown:
        assert s in text, (s, text)
    for s in hidden:
        assert s not in text, (s, text)
    assert all(re.match(STAMP, line) for line in text.splitlines())


def test_session_picks_the_renderer_by_terminal(logs_restored) -> None:
    with console.session(stream=io.StringIO(), terminal=True) as renderer:
        assert isinstance(renderer, console.TerminalRenderer)
        assert current_reporter() is renderer
    with console.session(stream=io.StringIO()) as renderer:  # StringIO is not a terminal
        assert isinstance(renderer, console.PlainRenderer)
    with console.session(stream=io.StringIO(), verbosity=console.QUIET):
        assert current_reporter() is None
    assert current_reporter() is None


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """The first progress line must appear within a second of starting a command: importing
    the CLI loads neither scikit-learn, SciPy, Polars nor MLflow (they load inside the first
    step, "read and check the data", while its line is already shown)."""
    import subprocess
    import sys

    code = (
        "import sys, segml.cli, segml.console; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'polars', 'mlflow', 'lightgbm') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
