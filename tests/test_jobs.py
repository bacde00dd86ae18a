"""The job is boring: killed at any point it leaves the previous partition intact, a rerun gives
identical Parquet, and two jobs for the same partition never interleave."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segml.cli import main
from segml.io import exclusive_lock

AS_OF = "2024-06-01"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "synthetic.yaml"
    path.write_text("data:\n  synthetic_customers: 2500\n  synthetic_seed: 5\n")
    return path


def _run(config: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segml.cli",
            "run",
            "--config",
            str(config),
            "--as-of",
            AS_OF,
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_at_any_point_keeps_previous_partition(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    assert main(["run", "--config", str(config), "--as-of", AS_OF, "--out", str(out)]) == 0
    part = out / f"as_of={AS_OF}"
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    for delay in (0.5, 1.5, 2.5, 3.5, 5.0):
        proc = _run(config, out)
        time.sleep(delay)
        finished = proc.poll() == 0  # on a fast machine the job may be done already
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = {p.name: p.read_bytes() for p in part.iterdir()}
        if finished:  # a complete new partition: same features, new manifest
            assert now["features.parquet"] == before["features.parquet"]
            before = now
        assert now == before, delay
        visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
        assert visible == [part.name], delay
    # a full rerun replaces the partition with byte-identical features, and cleans leftovers
    proc = _run(config, out)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    assert (part / "features.parquet").read_bytes() == before["features.parquet"]
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


def test_second_job_for_same_partition_is_refused(config: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    with exclusive_lock(out / f"as_of={AS_OF}"):
        code = main(["run", "--config", str(config), "--as-of", AS_OF, "--out", str(out)])
    assert code == 6
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "--wait" in err
    assert not (out / f"as_of={AS_OF}").exists()
