"""Guardrails the import contracts cannot express (docs/architecture.md).

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
    ("segml/engine.py", "stage"): "spills a frame to a scratch file (segml.io.scratch_path) that "
    "the job removes when it ends",
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
