"""The README's evidence figures come from files the benchmarks write, so they cannot drift.

The fair-protocol table is compared cell by cell with the pooled CSVs that
``benchmarks/fair_protocol.py`` writes (model value, difference, interval, verdict); every figure
of the speed tables must be a figure of ``benchmarks/RESULTS.md`` (which ``benchmarks/run.py``,
``shapes.py`` and the other scripts write) at the precision the README shows.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FAIR = ROOT / "benchmarks" / "fair"

# README row label (data) -> the pooled table the benchmark wrote for it, per target.
SOURCES = {
    "Online Retail": {
        "purchase": FAIR / "segml_pooled.csv",
        "value": FAIR / "segml_pooled.csv",
        "lapse": FAIR / "lapse_cli" / "pooled.csv",
    },
    "synthetic": {t: FAIR / "synthetic_cli" / "pooled.csv" for t in ("purchase", "lapse", "value")},
}
METRICS = {"ROC AUC": "roc_auc", "log loss": "log_loss", "Gini": "gini"}
CELL = re.compile(r"([+-]\d\.\d{3}) \[([+-]\d\.\d{3}), ([+-]\d\.\d{3})\] \**(beats|ties|loses)")


def _section(start: str, end: str) -> str:
    return README[README.index(start) : README.index(end)]


def _rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def _fair_rows() -> list[tuple[str, list[str]]]:
    data, out = "", []
    for cells in _rows(_section("**The fair protocol**", "Where it only ties")):
        data = next((k for k in SOURCES if cells[0].startswith(k)), data) if cells[0] else data
        out.append((data, cells))
    return out


def _pooled(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    with path.open() as f:
        return {(r["target"], r["other"], r["metric"]): r for r in csv.DictReader(f)}


def test_the_fair_protocol_table_has_rows_for_both_data_sets() -> None:
    assert {data for data, _ in _fair_rows()} == set(SOURCES)


@pytest.mark.parametrize(
    "data,cells", _fair_rows(), ids=lambda v: v if isinstance(v, str) else v[1]
)
def test_fair_protocol_figures_equal_the_benchmark_files(data: str, cells: list[str]) -> None:
    target = re.match(r"[a-z_]+", cells[1]).group()  # type: ignore[union-attr]
    metric = next(v for k, v in METRICS.items() if k in cells[1])
    pooled = _pooled(SOURCES[data][target])
    for other, cell in (("btyd", cells[3]), ("rfm", cells[4])):
        row = pooled[(target, other, metric)]
        found = CELL.match(cell)
        assert found, f"README cell {cell!r} is not 'diff [low, high] verdict'"
        wrote = [f"{float(row[k]):+.3f}" for k in ("diff", "low", "high")] + [row["verdict"]]
        assert list(found.groups()) == wrote, f"{data} {target} {metric} vs {other}"
        assert cells[2] == f"{float(row['model']):.3f}"


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", text)]


def test_speed_figures_are_figures_of_the_benchmark_results() -> None:
    results = _numbers((ROOT / "benchmarks" / "RESULTS.md").read_text())
    speed = _section("Speed and memory on this", "## Scaling out")
    figures = re.findall(r"(\d+(?:\.\d+)?) ?(?:s|GB|x)\b", "\n".join(speed.splitlines()[2:]))
    assert len(figures) > 40, "the README's speed tables were not found"
    missing = [
        n
        for n in figures
        if not any(round(v, len(n.partition(".")[2])) == float(n) for v in results)
    ]
    assert not missing, f"README speed figures not in benchmarks/RESULTS.md: {missing}"
