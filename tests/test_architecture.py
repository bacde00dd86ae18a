"""Guardrails the import contracts cannot express (docs/architecture.md).

Only the engine and the scoring backend branch on the engine (Polars or Spark); only the jobs
layer reads a whole ``Config``.

Only ``segml.io`` writes files: every other module hands a frame or text to ``segml.io``'s atomic
writers, or writes inside an ``atomic_file`` / ``atomic_dir`` block it opened, so a killed job
leaves nothing half written. The few exceptions write to private temporary folders and are listed
with their reason; a new direct write fails this test until it goes through ``segml.io``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SEGML = Path(__file__).resolve().parents[1] / "segml"

WRITE_METHODS = {
    "write_parquet", "write_csv", "write_json", "write_ndjson", "write_ipc", "sink_parquet",
    "sink_csv", "sink_ipc", "to_parquet", "to_csv", "to_json", "write_text", "write_bytes",
    "savefig",
}  # fmt: skip
SHUTIL = {"copytree", "copyfile", "copy", "copy2", "move"}  # only as shutil.<name>
ATOMIC_BLOCKS = {"atomic_file", "atomic_dir"}

# (module, function): why it may write directly
ALLOWED = {
    ("segml/tracking.py", "json"): "a temporary file MLflow copies into the run's artifacts",
    ("segml/engine/__init__.py", "stage"): "spills a frame to a scratch file "
    "(segml.io.scratch_path) that the job removes when it ends",
    ("segml/models/experiment.py", "_log_model"): "a temporary folder MLflow logs as the model",
    ("segml/models/environment.py", "segml_source"): "a copy of segml's code inside a temporary "
    "folder that MLflow ships with the model (code_paths)",
    ("segml/scores/spark.py", "model_payloads"): "serialises models in a temporary folder to "
    "broadcast them to Spark executors",
    ("segml/scores/spark.py", "_load_models"): "an executor rebuilds the models in its own "
    "temporary folder",
    ("segml/scores/spark.py", "write_scores"): "Spark's own writer, into the job's staging folder "
    "(atomic_dir); Spark cannot write through a local rename",
    ("segml/report/html.py", "figure_img"): "renders a figure into an in-memory buffer",
}


def _writes(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(function, call, line) for every direct write outside an atomic block."""
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, func: str, atomic: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            func = node.name
        if isinstance(node, ast.With | ast.AsyncWith):
            names = {_called(item.context_expr) for item in node.items}
            atomic = atomic or bool(names & ATOMIC_BLOCKS)
        if isinstance(node, ast.Call) and not atomic:
            name = _called(node)
            method = isinstance(node.func, ast.Attribute)  # segml.io's write_* are plain names
            if method and name in WRITE_METHODS and _writes_a_file(node, name):
                found.append((func, name, node.lineno))
            if method and name in SHUTIL and _called(node.func.value) == "shutil":  # type: ignore[attr-defined]
                found.append((func, name, node.lineno))
            if name == "open" and _open_mode(node) not in {"r", "rb", "rt"}:
                found.append((func, "open", node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, func, atomic)

    visit(tree, "<module>", False)
    return found


def _called(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _writes_a_file(call: ast.Call, name: str) -> bool:
    # pandas' to_csv()/to_json() without a target return text; that is not a write
    if name in {"to_csv", "to_json"}:
        return bool(call.args) or any(k.arg == "path_or_buf" for k in call.keywords)
    return True


def _open_mode(call: ast.Call) -> str:
    mode = call.args[1] if len(call.args) > 1 else None
    mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
    return mode.value if isinstance(mode, ast.Constant) else "r"


def _modules() -> list[Path]:
    return sorted(p for p in SEGML.rglob("*.py") if "io" not in p.relative_to(SEGML).parts[:1])


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(SEGML).as_posix())
def test_only_segml_io_writes_files(path: Path) -> None:
    rel = path.relative_to(SEGML.parent).as_posix()
    direct = [
        f"{rel}:{line} {func}() calls {call}"
        for func, call, line in _writes(ast.parse(path.read_text(encoding="utf-8")))
        if (rel, func) not in ALLOWED
    ]
    assert not direct, (
        "write through segml.io (write_frame, write_json, write_text) or inside an "
        "atomic_file/atomic_dir block, or list the exception with its reason in ALLOWED: "
        + "; ".join(direct)
    )


def test_the_scan_finds_a_direct_write() -> None:
    code = (
        "def f(frame, path):\n    frame.write_parquet(path)\n"
        "def g(frame, path):\n    with atomic_file(path) as tmp:\n        frame.write_csv(tmp)\n"
        "def h(df):\n    return df.to_csv(index=False)\n"
        "def k(path):\n    with open(path, 'w') as fh:\n        fh.write('x')\n"
    )
    assert _writes(ast.parse(code)) == [("f", "write_parquet", 2), ("k", "open", 9)]


def test_every_listed_exception_still_exists() -> None:
    for (rel, func), why in ALLOWED.items():
        tree = ast.parse((SEGML.parent / rel).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert func in defined, f"{rel}: {func} is listed in ALLOWED ({why}) but gone"


# modules that may branch on the engine (is_spark, backend_of, == "spark"): why
ENGINE_MODULES = {
    "segml/engine/__init__.py": "the frame operations that differ per engine, and the helpers "
    "(deliver, compute, to_polars, for_engine, ...) everything else calls instead of branching",
    "segml/engine/spark.py": "opens a job's tables on Spark when its config chooses engine: spark",
    "segml/scores/backend.py": "backend_for: the one place a scoring job's engine is chosen",
    "segml/scores/spark.py": "the Spark scoring backend refuses a frame that is not on Spark",
}
ENGINE_CALLS = {"is_spark", "backend_of"}
ENGINE_NAMES = {"spark", "polars"}


def _engine_branches(tree: ast.AST) -> list[tuple[str, int]]:
    """(what, line) for every call of is_spark/backend_of and comparison with "spark"/"polars"."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) in ENGINE_CALLS:
            found.append((f"{_called(node)}()", node.lineno))
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops
        ):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Constant) and side.value in ENGINE_NAMES:
                    found.append((f"a comparison with {side.value!r}", node.lineno))
    return found


def _all_modules() -> list[Path]:
    return sorted(SEGML.rglob("*.py"))


@pytest.mark.parametrize("path", _all_modules(), ids=lambda p: p.relative_to(SEGML).as_posix())
def test_only_the_engine_branches_on_the_engine(path: Path) -> None:
    rel = path.relative_to(SEGML.parent).as_posix()
    if rel in ENGINE_MODULES:
        return
    branches = _engine_branches(ast.parse(path.read_text(encoding="utf-8")))
    assert not branches, (
        f"{rel} branches on the engine ("
        + ", ".join(f"line {line}: {what}" for what, line in branches)
        + "); call a segml.engine helper (deliver, compute, in_order, in_memory, to_polars, "
        "on_driver, require_local, for_engine) or a ScoringBackend method instead"
    )


def test_the_engine_scan_finds_a_branch() -> None:
    code = (
        "def f(shop, plan):\n    if shop.kind == 'spark':\n        return plan\n"
        "def g(frame):\n    return is_spark(frame)\n"
        "def h(lf):\n    return 'polars' != backend_of(lf)\n"
        "def k(tok):\n    return tok.kind == 'NAME'\n"
    )
    assert _engine_branches(ast.parse(code)) == [
        ("a comparison with 'spark'", 2),
        ("is_spark()", 5),
        ("a comparison with 'polars'", 7),
        ("backend_of()", 7),
    ]


def test_every_engine_module_still_branches() -> None:
    for rel, why in ENGINE_MODULES.items():
        tree = ast.parse((SEGML.parent / rel).read_text(encoding="utf-8"))
        assert _engine_branches(tree), f"{rel} is listed in ENGINE_MODULES ({why}) but no longer "
        "branches on the engine: take it off the list"


# modules below the jobs layer that may name a whole Config: why
CONFIG_READERS = {
    "segml/config.py": "defines it",
    "segml/cli.py": "loads the YAML and hands the Config to a job",
    "segml/__init__.py": "re-exports it for users",
    "segml/datasets/__init__.py": "load_tables(config), the notebooks' shortcut: hands the data "
    "section, engine and folder to open_tables",
}


def _names_config(tree: ast.AST) -> list[int]:
    """Lines that import ``Config`` from segml.config or read ``segml.config.Config``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "segml.config":
            lines += [node.lineno for a in node.names if a.name == "Config"]
        if isinstance(node, ast.Attribute) and node.attr == "Config":
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", _all_modules(), ids=lambda p: p.relative_to(SEGML).as_posix())
def test_only_the_jobs_read_a_config(path: Path) -> None:
    rel = path.relative_to(SEGML.parent).as_posix()
    if rel in CONFIG_READERS or rel.startswith("segml/jobs/"):
        return
    lines = _names_config(ast.parse(path.read_text(encoding="utf-8")))
    assert not lines, (
        f"{rel} (line {lines[0]}) names the whole Config: take the section it needs "
        "(e.g. config: DataSpec, read through segml.config.data_section) or plain keyword "
        "arguments, and let the job in segml/jobs/ unpack the Config"
    )


# the command line is the only place that writes to the terminal; the library logs (``logging``)
# and reports progress through ``segml.progress``, which is silent unless the CLI installs a
# renderer (``segml.console``)
PRINT_ALLOWED = {"segml/cli.py", "segml/console.py"}


def _prints(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]


@pytest.mark.parametrize(
    "path", sorted(SEGML.rglob("*.py")), ids=lambda p: p.relative_to(SEGML).as_posix()
)
def test_the_library_does_not_print(path: Path) -> None:
    rel = path.relative_to(SEGML.parent).as_posix()
    if rel in PRINT_ALLOWED:
        return
    lines = _prints(ast.parse(path.read_text(encoding="utf-8")))
    assert not lines, (
        f"{rel} calls print() at lines {lines}: log with logging.getLogger(__name__) or report "
        "progress with segml.progress.step; only segml/cli.py writes to the terminal"
    )


def test_the_print_scan_finds_a_print() -> None:
    code = "def f(x):\n    print(x)\n    log.info(x)\n    sys.stdout.write(x)\n"
    assert _prints(ast.parse(code)) == [2]
