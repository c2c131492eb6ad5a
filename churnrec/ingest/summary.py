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
    rows_already_present: int  # = rows_updated + rows_unchanged
    rows_quarantined: int
    quarantined_by_reason: dict[str, int]
    quarantine_file: str
    warnings: list[str] = field(default_factory=list)
    rows_updated: int = 0  # stored rows this file changed (status, amount, a new column...)
    rows_unchanged: int = 0
    # cells replaced in kept rows (an unreadable consent stored as no), also in quarantine
    cells_quarantined: int = 0
    cells_by_reason: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    # customers: ids with both yes and no in the file, and ids whose no came only from
    # quarantined rows (both: no applied; see ingest/consent.py)
    consent_conflicts: int = 0
    consent_no_from_quarantine: int = 0
    # orders: clean lines without a customer id, stored as guest lines (item-level uses only)
    rows_guest: int = 0

    def __post_init__(self) -> None:
        assert self.rows_read == self.rows_accepted + self.rows_guest + self.rows_quarantined
        assert self.rows_accepted == self.rows_new + self.rows_already_present
        assert self.rows_already_present == self.rows_updated + self.rows_unchanged
        assert self.rows_quarantined == sum(self.quarantined_by_reason.values())
        assert self.cells_quarantined == sum(self.cells_by_reason.values())


@dataclass
class IngestSummary:
    workspace: str
    tables: dict[str, TableSummary]
    ingest_id: str | None = None
    repairs: list[str] = field(default_factory=list)  # what recovery fixed before this run

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "ingest_id": self.ingest_id,
            "repairs": list(self.repairs),
            "tables": {kind: asdict(t) for kind, t in self.tables.items()},
        }

    def lines(self) -> list[str]:
        """A short report for people."""
        out = [f"workspace: {self.workspace}"]
        if self.ingest_id:
            out.append(f"ingest id: {self.ingest_id}")
        out += [f"repaired: {line}" for line in self.repairs]
        for kind, t in self.tables.items():
            out.append(f"{kind}: {t.file}" + (f" ({t.encoding})" if t.encoding else ""))
            out.append(f"  rows read     {t.rows_read:>12,}")
            out.append(
                f"  accepted      {t.rows_accepted:>12,}  "
                f"({t.rows_new:,} new, {t.rows_updated:,} updated, "
                f"{t.rows_unchanged:,} unchanged)"
            )
            if t.rows_guest:
                out.append(
                    f"  guest lines   {t.rows_guest:>12,}  (no customer id: kept for item "
                    "demand, left out of everything per customer)"
                )
            out.append(f"  quarantined   {t.rows_quarantined:>12,}")
            for reason, n in sorted(t.quarantined_by_reason.items(), key=lambda kv: -kv[1]):
                out.append(f"    {reason:<22}{n:>10,}")
            if t.cells_quarantined:
                out.append(f"  cells replaced {t.cells_quarantined:>11,}  (rows kept)")
                for reason, n in sorted(t.cells_by_reason.items(), key=lambda kv: -kv[1]):
                    out.append(f"    {reason:<22}{n:>10,}")
            if t.rows_quarantined or t.cells_quarantined:
                out.append(f"  quarantine file: {t.quarantine_file}")
            for warning in t.warnings:
                out.append(f"  warning: {warning}")
        return out
