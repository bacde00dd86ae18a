"""Atomic writes: a failure inside the block, or a kill at any step of a publish, leaves the
previous output complete and readable; the next run cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest

from segml.errors import DataError, JobLockedError
from segml.io import (
    atomic_dir,
    atomic_file,
    exclusive_lock,
    folder_hashes,
    publish,
    published_names,
    remove_stale_scratch,
    resolve_published,
    write_frame,
)

ROOT = Path(__file__).resolve().parents[1]


def test_atomic_file_keeps_previous_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_atomic_dir_swaps_whole_folders(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2024-01-01"
    with atomic_dir(target) as tmp:
        (tmp / "x.parquet").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "x.parquet").write_text("v2-partial")
        raise RuntimeError("killed")
    assert (target / "x.parquet").read_text() == "v1"
    with atomic_dir(target) as tmp:
        (tmp / "y.parquet").write_text("v3")
    assert sorted(p.name for p in target.iterdir()) == ["y.parquet"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [target.name]
    # the name links to the live version; the one live before it is kept for readers
    assert target.is_symlink() and os.readlink(target) == ".versions/as_of=2024-01-01/000002"
    assert sorted(os.listdir(tmp_path / ".versions" / target.name)) == ["000001", "000002"]
    assert published_names(tmp_path) == [target.name]


def test_versions_beyond_the_previous_one_are_deleted_after_the_link_moved(tmp_path: Path) -> None:
    target = tmp_path / "run"
    for n in range(4):
        with atomic_dir(target) as tmp:
            (tmp / "n.txt").write_text(str(n))
    assert sorted(os.listdir(tmp_path / ".versions" / "run")) == ["000003", "000004"]
    assert resolve_published(target) == (tmp_path / ".versions" / "run" / "000004").resolve()
    assert (target / "n.txt").read_text() == "3"


def test_a_folder_written_inside_a_staging_folder_is_plain(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2024-01-01"
    with atomic_dir(target) as tmp, atomic_dir(tmp / "segments") as inner:
        (inner / "members.parquet").write_text("m")
    assert sorted(p.name for p in target.iterdir()) == ["segments"]
    assert not (target / "segments").is_symlink()
    assert _files(target) == {"segments/members.parquet": b"m"}


def test_without_symbolic_links_the_folder_is_replaced_by_renames(
    tmp_path: Path, monkeypatch
) -> None:
    def refused(target: str, link: Path) -> None:
        raise OSError(1314, "A required privilege is not held by the client")  # Windows

    monkeypatch.setattr(publish, "_symlink", refused)
    target = tmp_path / "as_of=2024-01-01"
    for n in range(3):
        with atomic_dir(target) as tmp:
            (tmp / "n.txt").write_text(str(n))
    assert target.is_dir() and not target.is_symlink()
    assert (target / "n.txt").read_text() == "2"
    previous = tmp_path / ".versions" / target.name
    assert [(p.name, (p / "n.txt").read_text()) for p in previous.iterdir()] == [("000004", "1")]


def test_an_older_segml_folder_is_swapped_for_a_link(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2024-01-01"
    target.mkdir()
    (target / "x.txt").write_text("old layout")
    with atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("new")
    assert target.is_symlink() and (target / "x.txt").read_text() == "new"
    kept = [p / "x.txt" for p in (tmp_path / ".versions" / target.name).iterdir()]
    assert sorted(p.read_text() for p in kept) == ["new", "old layout"]


def test_leftovers_of_the_old_two_rename_swap_are_recovered_not_deleted(tmp_path: Path) -> None:
    """The bug of issue 13: segml < 0.2, killed between its two renames, left no partition and
    both complete copies hidden; the next run deleted them before building, then failed."""
    target = tmp_path / "as_of=2024-01-01"
    old, new = tmp_path / ".as_of=2024-01-01.old-4242", tmp_path / ".as_of=2024-01-01.k3j.tmp"
    for folder, text in ((old, "v1"), (new, "v2")):
        folder.mkdir()
        (folder / "x.txt").write_text(text)
    with pytest.raises(RuntimeError), atomic_dir(target):
        raise RuntimeError("a broken rule set")
    assert (target / "x.txt").read_text() == "v1"
    assert not old.exists() and not new.exists()


# -- kills at each step of a publish, in a child process ----------------------------------------

CHILD = """
import os, sys, types
from pathlib import Path
root = Path(sys.argv[1])
for name in ("segml", "segml.io"):  # the package's own __init__ imports Polars: skip it
    module = types.ModuleType(name)
    module.__path__ = [str(root.joinpath(*name.split(".")))]
    sys.modules[name] = module
from segml.io import publish
if sys.argv[3] == "no-links":
    def refused(target, link):
        raise OSError(1314, "no privilege")
    publish._symlink = refused
with publish.atomic_dir(Path(sys.argv[2])) as tmp:
    (tmp / "data.txt").write_text("v2 " * 1000)
    (tmp / "_manifest.json").write_text("{}")
"""


def _publish_in_child(target: Path, *, step: str, mode: str) -> int:
    env = {**os.environ, "SEGML_FAULT": step}
    args = [sys.executable, "-c", CHILD, str(ROOT), str(target), mode]
    return subprocess.run(args, env=env, capture_output=True, check=False).returncode


def _first_version(target: Path, mode: str) -> dict[str, bytes]:
    if mode == "no-links":
        target.mkdir()  # what a publish without links leaves: a real folder
    else:
        with atomic_dir(target):
            pass
    for name, text in (("data.txt", "v1 " * 1000), ("_manifest.json", '{"v": 1}')):
        (resolve_published(target) / name).write_text(text)
    return _files(target)


KILLS = [(step, "links") for step in ("publish:staged", "publish:between_renames",
                                       "publish:after_pointer")]  # fmt: skip
KILLS += [(step, "no-links") for step in ("publish:between_renames", "publish:retired",
                                          "publish:after_pointer")]  # fmt: skip


@pytest.mark.parametrize(("step", "mode"), KILLS)
def test_a_kill_at_each_publish_step_leaves_a_complete_folder(
    tmp_path: Path, step: str, mode: str, monkeypatch
) -> None:
    target = tmp_path / "as_of=2024-01-01"
    before = _first_version(target, mode)
    assert _publish_in_child(target, step=step, mode=mode) == -signal.SIGKILL
    seen = _files(resolve_published(target))  # what a reader finds now
    assert seen in (before, {"data.txt": b"v2 " * 1000, "_manifest.json": b"{}"}), step
    if step != "publish:retired":  # the only window where the name itself is missing
        assert _files(target) == seen
    if mode == "no-links":
        monkeypatch.setattr(publish, "_symlink", lambda target, link: (_ for _ in ()).throw(
            OSError(1314, "no privilege")))  # fmt: skip
    with pytest.raises(RuntimeError), atomic_dir(target):  # the next run fails: nothing lost
        raise RuntimeError("a broken rule set")
    assert _files(target) == seen
    with atomic_dir(target) as tmp:  # and the one after publishes and tidies up
        (tmp / "data.txt").write_text("v3")
    assert _files(target) == {"data.txt": b"v3"}
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [".as_of=2024-01-01.lock", ".versions"]
    assert len(os.listdir(tmp_path / ".versions" / target.name)) == 1 + (mode == "links")


def test_segml_imports_without_fcntl() -> None:
    """Windows has no fcntl: importing segml must not need it (issue 14)."""
    code = (
        "import sys; sys.modules['fcntl'] = None; sys.modules['msvcrt'] = None\n"
        "import segml, segml.io, segml.cli, segml.jobs.score\n"
        "from segml.errors import SegmlError\n"
        "try:\n"
        "    with segml.io.exclusive_lock(__import__('pathlib').Path(sys.argv[1]) / 'p'):\n"
        "        pass\n"
        "except SegmlError as err:\n"
        "    print(err)\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, "-c", code, folder], capture_output=True,
                              text=True, check=False, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "neither fcntl (POSIX) nor msvcrt (Windows)" in done.stdout


def test_the_lock_is_taken_again_only_by_a_publish_inside_its_holder(tmp_path: Path) -> None:
    with exclusive_lock(tmp_path / "p"):
        with atomic_dir(tmp_path / "p") as tmp:
            (tmp / "a").write_text("a")
        refused = pytest.raises(JobLockedError, match=rf"another job \(pid {os.getpid()}\)")
        with refused, exclusive_lock(tmp_path / "p"):
            pass
    assert (tmp_path / "p" / "a").read_text() == "a"
    with exclusive_lock(tmp_path / "p"):  # released
        pass


def test_folder_hashes_leave_out_write_times(tmp_path: Path) -> None:
    (tmp_path / "seg").mkdir()
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "_manifest.json").write_text("{}")
    hashes = []
    for when in ("2024-01-01T00:00:00", "2025-06-01T10:11:12.5"):
        (tmp_path / "seg" / "_manifest.json").write_text(f'{{"rows": 1, "written_at": "{when}"}}')
        hashes.append(folder_hashes(tmp_path, skip=("_manifest.json",), volatile=("written_at",)))
    assert hashes[0] == hashes[1] and sorted(hashes[0]) == ["a.csv", "seg/_manifest.json"]
    (tmp_path / "seg" / "_manifest.json").write_text('{"rows": 2, "written_at": "x"}')
    assert folder_hashes(tmp_path, volatile=("written_at",)) != hashes[0]


def test_write_frame_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"must end in .parquet or .csv, found '.xlsx'"):
        write_frame(pl.DataFrame({"a": [1]}), tmp_path / "f.xlsx")


def _killed_job(tmp_path: Path) -> Path:
    """The scratch folder of a segml process killed with SIGKILL (so its exit hook never ran)."""
    code = (
        "import os, signal; from segml.io import scratch_path; "
        "print(scratch_path('.arrow').parent, flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL
    return Path(done.stdout.strip())


def test_scratch_of_killed_processes_is_removed_by_the_next_one(tmp_path: Path) -> None:
    left = _killed_job(tmp_path)
    assert left.is_dir() and left.parent == tmp_path
    (tmp_path / "segml-scratch-not-a-pid").mkdir()  # not ours to judge: kept
    code = "from segml.io import scratch_path; print(scratch_path('.arrow').parent)"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not left.exists()
    assert (tmp_path / "segml-scratch-not-a-pid").is_dir()
    assert not Path(done.stdout.strip()).exists()  # removed at its own exit


def test_scratch_of_running_processes_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / f"segml-scratch-{os.getpid()}-x1"
    mine.mkdir()
    left = _killed_job(tmp_path)
    assert remove_stale_scratch(tmp_path) == [left]
    assert mine.is_dir()
