"""The one module that reads and writes files.

Reading returns Polars lazy frames (the embedded engine) with every column as text for CSV, so the
schema step can parse values itself and report exactly which rows are bad. Writing is atomic: a file
goes to a temporary sibling first and is renamed into place; a folder (a partition) is published
as a new version behind a link that is switched atomically (``segml.io.publish``), so a failed or
killed run leaves the previous output untouched and readable. ``segml.io.lock`` keeps two jobs
from writing the same output.
"""

from __future__ import annotations

import atexit
import contextlib
import glob as globlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from segml.errors import ConfigError, DataError
from segml.io import csv_files as io_csv
from segml.io.lock import exclusive_lock
from segml.io.publish import atomic_dir, fault_point, published_names, resolve_published

__all__ = [
    "atomic_dir",
    "atomic_file",
    "exclusive_lock",
    "explain_csv_error",
    "fault_point",
    "file_sha256",
    "folder_hashes",
    "guess_format",
    "json_text",
    "published_names",
    "read_yaml",
    "remove_stale_scratch",
    "resolve_published",
    "scan_table",
    "scan_typed",
    "write_frame",
    "write_json",
    "write_text",
]


def _parquet_source(path: Path) -> str | list[str]:
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        if not files:
            raise DataError(f"folder {str(path)!r} holds no .parquet files.")
        return files
    return str(path)


def scan_table(
    path: str | Path,
    *,
    table: str,
    fmt: str | None = None,
    encoding: str = "utf8",
    separator: str = ",",
) -> pl.LazyFrame:
    """Open a CSV (also ``.gz``) or Parquet file, folder or glob as a lazy frame.

    CSV columns are read as text; the schema step parses them and reports unparseable values.
    A CSV's head is checked first (``segml.io.csv_files.check_head``); a file in another encoding
    than UTF-8 is read through a UTF-8 scratch copy.
    """
    path = Path(path)
    text = str(path)
    matches = globlib.glob(text) if any(ch in text for ch in "*?[") else [text]
    if not matches or not any(Path(m).exists() for m in matches):
        raise DataError(
            f"{table}: no file at {text!r}. Check data.{table}.path in the config "
            "(relative paths are read from the config file's folder)."
        )
    fmt = fmt or guess_format(Path(matches[0]))
    if fmt == "parquet":
        return pl.scan_parquet(_parquet_source(path) if len(matches) == 1 else matches)
    files = sorted(matches)
    for m in files:
        io_csv.check_head(m, table=table, encoding=encoding, separator=separator)
    if encoding not in io_csv.POLARS_ENCODINGS:
        files = [
            str(io_csv.transcode(m, scratch_path(".csv"), encoding=encoding, table=table))
            for m in files
        ]
        encoding = "utf8"
    options: dict[str, Any] = {"infer_schema": False, "separator": separator}
    if any(m.endswith(".gz") for m in files):
        frames = [_read_csv(m, table=table, encoding=encoding, **options) for m in files]
        return pl.concat(frames).lazy()
    return pl.scan_csv(files, encoding=encoding, **options)  # type: ignore[arg-type]


def _read_csv(path: str, *, table: str, **options: Any) -> pl.DataFrame:
    try:
        return pl.read_csv(path, **options)
    except pl.exceptions.ComputeError as err:
        if "utf-8" in str(err):
            raise io_csv.explain([path], table=table) from err
        raise DataError(f"{table}: {path} could not be read as CSV: {err}") from err


def explain_csv_error(path: str | Path, err: Exception, *, table: str) -> DataError | None:
    """A DataError naming the file, for an error Polars raised while scanning the CSV file(s)
    at ``path`` (None when ``err`` is not about a CSV's contents)."""
    text = str(path)
    files = sorted(globlib.glob(text)) if any(ch in text for ch in "*?[") else [text]
    if not isinstance(err, pl.exceptions.PolarsError) or not files:
        return None
    if Path(files[0]).is_dir() or {".parquet", ".pq"} & set(Path(files[0]).suffixes):
        return None
    if "utf-8" in str(err):
        return io_csv.explain(files, table=table)
    if "more fields" in str(err):
        return DataError(
            f"{table}: {text} could not be read as CSV: a line has more fields than the header. "
            f"Check data.{table}.separator and that text with the delimiter in it is quoted."
        )
    if isinstance(err, pl.exceptions.ComputeError | pl.exceptions.NoDataError):
        return DataError(f"{table}: {text} could not be read as CSV: {err}")
    return None


def scan_typed(path: str | Path, *, table: str) -> pl.LazyFrame:
    """Open a Parquet file or folder, or a CSV, with column types (inferred for CSV; the
    ``customer_id`` column always as text). For tables segml wrote itself, such as scores."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{table}: no file at {str(path)!r}; pass the path of a .parquet or .csv.")
    if guess_format(path) == "parquet":
        return pl.scan_parquet(_parquet_source(path))
    return pl.scan_csv(
        path, infer_schema_length=10_000, schema_overrides={"customer_id": pl.String}
    )


def read_yaml(path: str | Path, *, what: str) -> Any:
    """Parse a YAML file with ``yaml.safe_load`` (never constructs Python objects)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {str(path)!r} does not exist.")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, for manifests."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def guess_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if path.is_dir() or ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".txt" in suffixes:
        return "csv"
    raise DataError(
        f"cannot tell the format of {str(path)!r} from its name; set format: csv or "
        "format: parquet for this table in the config."
    )


_SCRATCH: list[Path] = []


def scratch_path(suffix: str) -> Path:
    """A new file name in this process's scratch folder (under ``TMPDIR``).

    Intermediate tables spilled out of memory live there; the folder is removed when the
    process exits. A process that is killed cannot remove its folder; the folder's name holds
    the process id, so the next segml process removes folders whose process is gone.
    """
    if not _SCRATCH:
        remove_stale_scratch(Path(tempfile.gettempdir()))
        folder = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SCRATCH.append(folder)
    fd, name = tempfile.mkstemp(suffix=suffix, dir=_SCRATCH[0])
    os.close(fd)
    return Path(name)


def remove_stale_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` left by segml processes that no longer run."""
    removed = []
    for folder in root.glob(f"{_SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(_SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


_SCRATCH_PREFIX = "segml-scratch-"


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a frame atomically as Parquet or CSV, chosen by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".parquet", ".csv"}:
        raise DataError(f"output {str(path)!r} must end in .parquet or .csv, found {suffix!r}.")
    with atomic_file(path) as tmp:
        if suffix == ".parquet":
            frame.write_parquet(tmp)
        else:
            frame.write_csv(tmp)
    return path


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_text(payload: dict[str, Any]) -> str:
    """The text ``write_json`` writes: indented, sorted keys, so reruns give identical bytes."""
    return json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"


def write_json(payload: dict[str, Any], path: str | Path) -> Path:
    """Write a JSON document atomically (sorted keys, so reruns give identical bytes)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json_text(payload))
    return Path(path)


def folder_hashes(
    folder: str | Path, *, skip: tuple[str, ...] = (), volatile: tuple[str, ...] = ()
) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (sorted, POSIX separators),
    without the relative paths in ``skip``. A ``.json`` file is hashed without its
    top-level keys in ``volatile`` (e.g. the time it was written), so identical reruns give
    identical hashes."""
    folder = Path(folder)
    found: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in skip:
            continue
        is_json = volatile and path.suffix == ".json"
        content = json.loads(path.read_text("utf-8")) if is_json else None
        if isinstance(content, dict):
            stable = {k: v for k, v in content.items() if k not in volatile}
            found[rel] = hashlib.sha256(json_text(stable).encode()).hexdigest()
        else:
            found[rel] = file_sha256(path)
    return found
