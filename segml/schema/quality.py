"""The data-quality report: what the hygiene rules did to each table, counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["QualityReport", "QualityRow"]


@dataclass(frozen=True)
class QualityRow:
    table: str
    check: str
    rows: int
    action: str


@dataclass
class QualityReport:
    """Counts per table and check; printed by the CLI, returned as a dict or a DataFrame."""

    rows: list[QualityRow] = field(default_factory=list)

    def add(self, table: str, check: str, rows: int, action: str) -> None:
        """Record a count; a later count of the same table and check replaces the earlier."""
        self.rows = [r for r in self.rows if (r.table, r.check) != (table, check)]
        self.rows.append(QualityRow(table, check, int(rows), action))

    def count(self, table: str, check: str) -> int:
        """The count of one check (0 when the check did not apply)."""
        return sum(r.rows for r in self.rows if r.table == table and r.check == check)

    def to_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            out.setdefault(r.table, {})[r.check] = r.rows
        return out

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [(r.table, r.check, r.rows, r.action) for r in self.rows],
            columns=["table", "check", "rows", "action"],
        )

    def __str__(self) -> str:
        if not self.rows:
            return "data quality: no checks ran"
        width = max(len(f"{r.table}.{r.check}") for r in self.rows)
        lines = ["data quality:"]
        for r in self.rows:
            lines.append(f"  {f'{r.table}.{r.check}':<{width}}  {r.rows:>11,}  {r.action}")
        return "\n".join(lines)
