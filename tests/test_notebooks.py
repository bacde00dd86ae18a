"""Every notebook in notebooks/ runs top to bottom on small data (nbclient), so none can rot.

Small data via environment variables the notebooks' first cell reads: SEGML_NB_CUSTOMERS,
SEGML_NB_ROUNDS, SEGML_NB_SAMPLE (share of Online Retail customers), SEGML_NB_CUTOFFS (training
cutoffs of the Online Retail models) and SEGML_NB_OUT (a tmp
folder for everything they write). SEGML_NB_EXECUTED=DIR keeps each executed notebook (with
outputs) in DIR for reading. The Spark notebook is skipped without pyspark or Java.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from segml.engine import spark_unavailable

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SMALL = {"SEGML_NB_CUSTOMERS": "600", "SEGML_NB_ROUNDS": "25", "SEGML_NB_SAMPLE": "0.1",
         "SEGML_NB_CUTOFFS": "4", "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip


@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "spark" in path.stem and (reason := spark_unavailable()):
        print(f"SKIPPED {path.name}: {reason}")
        pytest.skip(reason)
    notebook = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs; strip them (jupyter nbconvert "
        "--clear-output --inplace)"
    )
    code = [line.lstrip() for c in notebook.cells if c.cell_type == "code"
            for line in c.source.splitlines()]  # fmt: skip
    assert not any(line.startswith(("def ", "class ")) for line in code), path.name
    for key, value in {**SMALL, "SEGML_NB_OUT": str(tmp_path / "out")}.items():
        monkeypatch.setenv(key, value)
    started = time.perf_counter()
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})  # fmt: skip
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, json.dumps(errors)[:2000]
    if keep := os.environ.get("SEGML_NB_EXECUTED"):  # keep the executed copy to read
        Path(keep).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, Path(keep) / path.name)
    print(f"{path.name}: {time.perf_counter() - started:.1f}s")
