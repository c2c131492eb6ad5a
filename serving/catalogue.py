"""The catalogue as served: the items table's flags overlaid by `POST /items` changes, at once.

Each change is a line of `data/catalogue/items.csv` naming the items table's ingest run, so a
later `ingest --items` is the shop's whole word again; the ranking hides items, models keep them.
"""

from __future__ import annotations

import csv
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from churnrec import columns as C
from churnrec.files import open_private_append
from churnrec.ingest.manifest import table_run_id
from churnrec.models.ranking.rules import Catalogue
from churnrec.serving.events import from_file_cell, to_file_cell
from churnrec.serving.schemas import MAX_IDS_PER_CALL, Id
from churnrec.serving.watch import file_stamp
from churnrec.workspace import Workspace

CATALOGUE_DIR = "catalogue"
CATALOGUE_LOG = "items.csv"
LOG_COLUMNS = ("recorded_at", "items_ingest_id", C.ITEM_ID, C.AVAILABLE, C.RECOMMENDABLE)
FLAGS = (C.AVAILABLE, C.RECOMMENDABLE)


class ItemRule(BaseModel):
    """One item's flags; a flag left out keeps its current value."""

    item_id: Id
    available: bool | None = Field(None, description="In stock / purchasable")
    recommendable: bool | None = Field(
        None, description="May ever be shown (false: postage, fees, vouchers, adult items ...)"
    )


class ItemsUpdate(BaseModel):
    items: list[ItemRule] = Field(min_length=1, max_length=MAX_IDS_PER_CALL)


class ItemsAccepted(BaseModel):
    accepted: int = Field(description="Item changes written and applied")
    hidden: int = Field(description="Items the catalogue now keeps out of every answer")


def catalogue_table(workspace: Workspace) -> pd.DataFrame:
    """item_id, price, available, recommendable: the items table with the posted changes that
    apply to it (the latest per item and flag)."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in (C.ITEM_ID, *FLAGS)})
    path = workspace.table_path(C.ITEMS)
    run = ""
    if path.exists():
        table = pd.read_parquet(path)
        keep = [c for c in (C.ITEM_ID, C.PRICE, *FLAGS) if c in table.columns]
        frame = table[keep].copy()
        run = table_run_id(path) or ""
    for flag in FLAGS:  # an absent flag column is unknown (served as true)
        frame[flag] = frame.get(flag, pd.Series(pd.NA, index=frame.index)).astype("boolean")
    changes = read_log(log_path(workspace), run)
    if changes.empty:
        return frame
    frame = frame.set_index(C.ITEM_ID)
    for flag in FLAGS:
        given = changes.dropna(subset=[flag]).drop_duplicates(C.ITEM_ID, keep="last")
        values = given.set_index(C.ITEM_ID)[flag].astype("boolean")
        frame = frame.reindex(frame.index.union(values.index))
        frame.loc[values.index, flag] = values
    return frame.rename_axis(C.ITEM_ID).reset_index()


def log_path(workspace: Workspace) -> Path:
    return workspace.data_dir / CATALOGUE_DIR / CATALOGUE_LOG


def read_log(path: Path, run: str) -> pd.DataFrame:
    """The changes of the log that apply to the items table of ingest run `run`, in order."""
    if not path.exists():
        return pd.DataFrame(columns=list(LOG_COLUMNS))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, names=list(LOG_COLUMNS))
    frame = frame[frame["items_ingest_id"] == run].copy()
    frame[C.ITEM_ID] = frame[C.ITEM_ID].map(from_file_cell)
    for flag in FLAGS:
        frame[flag] = frame[flag].map({"true": True, "false": False}).astype("boolean")
    return frame


def _cell(value: bool | None) -> str:
    return "" if value is None else str(value).lower()


class LiveCatalogue:
    """The served catalogue of one workspace, kept in step with the items table and the log."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._seen: tuple[Any, ...] | None = None
        self._table = pd.DataFrame()
        self._views: dict[int, tuple[Any, Catalogue]] = {}

    def table(self) -> pd.DataFrame:
        """The current catalogue table (re-read when the items table or the log changed)."""
        paths = (self.workspace.table_path(C.ITEMS), log_path(self.workspace))
        stamp = tuple(map(file_stamp, paths))
        if stamp != self._seen:
            with self._lock:
                if stamp != self._seen:
                    self._table = catalogue_table(self.workspace)
                    self._views = {}
                    self._seen = stamp
        return self._table

    def for_model(self, model: Any) -> Catalogue:
        """The catalogue aligned with `model`'s items (cached per model and catalogue)."""
        table = self.table()
        hit = self._views.get(id(model))
        if hit is not None and hit[0] is model:
            return hit[1]
        view = Catalogue.of(model.sources.log.items, table)
        self._views = {id(model): (model, view)}
        return view

    def record(self, update: ItemsUpdate) -> ItemsAccepted:
        """Append the changes (fsynced before the answer) and serve them from now on."""
        path = self.workspace.table_path(C.ITEMS)
        run = (table_run_id(path) or "") if path.exists() else ""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, open_private_append(log_path(self.workspace)) as fh:
            csv.writer(fh, lineterminator="\n").writerows(
                [now, run, to_file_cell(r.item_id), _cell(r.available), _cell(r.recommendable)]
                for r in update.items
            )
            fh.flush()
            os.fsync(fh.fileno())
        table = self.table()
        hidden = ~(table[C.AVAILABLE].fillna(True) & table[C.RECOMMENDABLE].fillna(True))
        return ItemsAccepted(accepted=len(update.items), hidden=int(hidden.sum()))
