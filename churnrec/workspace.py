"""Where churnrec keeps things in a workspace folder: `data/` (ingested tables, quarantine,
manifest, feature snapshots), `mlruns/` (MLflow store) and `outputs/`. Nothing touches the disk
until a path is used; constructing a Workspace is free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from churnrec import columns as C


class WorkspaceError(RuntimeError):
    """The workspace lacks something a command needs (e.g. `features` before `ingest`)."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | Path | Workspace | None = None) -> Workspace:
        """The workspace at `root` (default: current folder); a Workspace is returned as is."""
        if isinstance(root, Workspace):
            return root
        return cls(Path(root or ".").resolve())

    # --- ingested data ---------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def table_path(self, kind: str) -> Path:
        """Canonical Parquet file of one table kind (orders, customers, items, events, campaigns)."""
        if kind not in (*C.INGEST_KINDS, C.GUEST_ORDERS):
            raise ValueError(f"unknown table kind {kind!r}; expected one of {C.INGEST_KINDS}")
        return self.data_dir / f"{kind}.parquet"

    @property
    def orders_path(self) -> Path:
        return self.table_path(C.ORDERS)

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    def quarantine_path(self, kind: str) -> Path:
        return self.quarantine_dir / f"{kind}.csv"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        if not self.root.is_dir():
            raise WorkspaceError(
                f"workspace folder {self.root} does not exist; pass the folder you ingested "
                "into with --workspace, or run `churnrec ingest ORDERS_FILE --workspace "
                f"{self.root}` first"
            )
        if not self.manifest_path.exists():
            raise WorkspaceError(
                f"no ingested data in {self.root} (missing {self.manifest_path}); run "
                "`churnrec ingest ORDERS_FILE` first (`churnrec demo` builds a sample shop)"
            )
        return json.loads(self.manifest_path.read_text())

    def has_table(self, kind: str) -> bool:
        return self.table_path(kind).exists()

    @property
    def drift_record_path(self) -> Path:
        """The newest drift check (`churnrec refresh` writes it; `/metadata` and the report read it)."""
        return self.data_dir / "drift" / "latest.json"

    # --- features ---------------------------------------------------------------------------
    @property
    def duckdb_temp_dir(self) -> Path:
        """Where DuckDB spills when a query outgrows its memory limit (beside the data it reads)."""
        return self.data_dir / ".duckdb_tmp"

    @property
    def features_dir(self) -> Path:
        return self.data_dir / "features"

    def snapshot_dir(self, as_of: date) -> Path:
        return self.features_dir / f"as_of={as_of.isoformat()}"

    def latest_snapshot_dir(self) -> Path:
        dirs = sorted(self.features_dir.glob("as_of=*")) if self.features_dir.exists() else []
        if not dirs:
            raise WorkspaceError(
                f"no feature snapshot in {self.features_dir}; run `churnrec features`"
            )
        return dirs[-1]

    # --- tracking and outputs ---------------------------------------------------------------
    @property
    def mlruns_dir(self) -> Path:
        return self.root / "mlruns"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlruns_dir / 'mlflow.db'}"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"
