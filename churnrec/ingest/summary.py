"""What one ingest run did, for people (plain lines) and for scripts (`to_dict` -> JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TableSummary:
    file: str
    rows_read: int
    rows_accepted: int
    rows_new: int
    rows_already_present: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int]
    quarantine_file: str
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.rows_read == self.rows_accepted + self.rows_quarantined
        assert self.rows_accepted == self.rows_new + self.rows_already_present
        assert self.rows_quarantined == sum(self.quarantined_by_reason.values())


@dataclass
class IngestSummary:
    workspace: str
    tables: dict[str, TableSummary]

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "tables": {kind: asdict(t) for kind, t in self.tables.items()},
        }

    def lines(self) -> list[str]:
        """A short report for people."""
        out = [f"workspace: {self.workspace}"]
        for kind, t in self.tables.items():
            out.append(f"{kind}: {t.file}")
            out.append(f"  rows read     {t.rows_read:>12,}")
            out.append(
                f"  accepted      {t.rows_accepted:>12,}  "
                f"({t.rows_new:,} new, {t.rows_already_present:,} already present)"
            )
            out.append(f"  quarantined   {t.rows_quarantined:>12,}")
            for reason, n in sorted(t.quarantined_by_reason.items(), key=lambda kv: -kv[1]):
                out.append(f"    {reason:<22}{n:>10,}")
            if t.rows_quarantined:
                out.append(f"  quarantine file: {t.quarantine_file}")
            for warning in t.warnings:
                out.append(f"  warning: {warning}")
        return out
