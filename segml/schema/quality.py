"""The data-quality report: what the hygiene rules did to each table, counted.

Every row read is accounted for. Each check has a kind:

- ``read``: the rows of the table as given;
- ``dropped``: removed by a named rule (each row by the first rule that applies, so the rules
  never count a row twice);
- ``set_aside``: kept out of the features by a named rule but not lost (rows at or after the
  cutoff; zero-amount orders, which ``rfm_summary`` still counts);
- ``used``: what the features read;
- ``note``: a count inside one of the terms above (returns are used rows, say).

For every table, ``read = used + dropped + set_aside`` (see ``QualityReport.balance``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "QualityReport", "QualityRow"]

KINDS = ("read", "dropped", "set_aside", "used", "note")


@dataclass(frozen=True)
class QualityRow:
    table: str
    check: str
    rows: int
    action: str
    kind: str = "note"


@dataclass
class QualityReport:
    """Counts per table and check; printed by the CLI, returned as a dict or a DataFrame."""

    rows: list[QualityRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, table: str, check: str, rows: int, action: str, *, kind: str = "note") -> None:
        """Record a count; a later count of the same table and check replaces the earlier."""
        if kind not in KINDS:
            raise ValueError(f"quality kind must be one of {KINDS}, got {kind!r}")
        row = QualityRow(table, check, int(rows), action, kind)
        keys = [(r.table, r.check) for r in self.rows]
        if (table, check) in keys:
            self.rows[keys.index((table, check))] = row
        else:
            self.rows.append(row)

    def warn(self, message: str) -> None:
        """Record a warning about the input (printed with the report, never twice)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def count(self, table: str, check: str) -> int:
        """The count of one check (0 when the check did not apply)."""
        return sum(r.rows for r in self.rows if r.table == table and r.check == check)

    def balance(self, table: str) -> dict[str, int]:
        """The accounting terms of ``table``: rows read, used, dropped and set aside."""
        terms = {kind: 0 for kind in KINDS if kind != "note"}
        for r in self.rows:
            if r.table == table and r.kind in terms:
                terms[r.kind] += r.rows
        return terms

    def tables(self) -> list[str]:
        return list(dict.fromkeys(r.table for r in self.rows))

    def to_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            out.setdefault(r.table, {})[r.check] = r.rows
        return out

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [(r.table, r.check, r.rows, r.action, r.kind) for r in self.rows],
            columns=["table", "check", "rows", "action", "kind"],
        )

    def __str__(self) -> str:
        if not self.rows:
            return "data quality: no checks ran"
        width = max(len(f"{r.table}.{r.check}") for r in self.rows)
        lines = ["data quality:"]
        for r in self.rows:
            lines.append(f"  {f'{r.table}.{r.check}':<{width}}  {r.rows:>11,}  {r.action}")
        for table in self.tables():
            t = self.balance(table)
            if t["read"]:
                lines.append(
                    f"  {table}: {t['read']:,} read = {t['used']:,} used + {t['dropped']:,} "
                    f"dropped + {t['set_aside']:,} set aside"
                )
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)
