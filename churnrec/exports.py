"""Contact exports that outlive a consent change: each is recorded with its consent rule in
`data/exports/index.json`; after ingest, one listing someone its rule no longer allows gets a
`<export>.stale` marker and a loud warning, and `churnrec refresh` rewrites or removes it."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from churnrec import columns as C
from churnrec.files import FILE_MODE, escape_cell, private_dir, write_json, write_text
from churnrec.progress import say
from churnrec.workspace import Workspace

EXPORTS_DIR = "exports"
INDEX_FILE = "index.json"
STALE_SUFFIX = ".stale"
KINDS = ("scores", "target_list", "recommendations")
ConsentRule = Literal["explicit", "not_refused"]


def stale_marker(path: str | Path) -> Path:
    """`<export>.stale`, beside the export."""
    path = Path(path)
    return path.with_name(path.name + STALE_SUFFIX)


def _index_path(ws: Workspace) -> Path:
    return ws.data_dir / EXPORTS_DIR / INDEX_FILE


@contextmanager
def _locked(ws: Workspace) -> Iterator[None]:
    """One writer of the index at a time (a `score` and a `target` may finish together)."""
    lock = private_dir(_index_path(ws).parent) / ".lock"
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_index(ws: Workspace) -> dict[str, dict[str, Any]]:
    """`{absolute export path: {kind, written_at, consent_rule, stale?}}` ({} when none)."""
    path = _index_path(ws)
    return json.loads(path.read_text()) if path.exists() else {}


def record_export(
    ws: Workspace, path: str | Path, kind: str, consent_rule: ConsentRule = "explicit"
) -> None:
    """Remember a freshly written contact export (and drop an old stale mark for that path)."""
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    with _locked(ws):
        index = read_index(ws)
        index[str(Path(path).resolve())] = {
            "kind": kind,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "consent_rule": consent_rule,
        }
        stale_marker(path).unlink(missing_ok=True)
        write_json(_index_path(ws), index, sort_keys=True)


@dataclass
class _Consent:
    """Marketing consent now, for set lookups (far quicker than `Series.isin` on text)."""

    ids: pd.Series
    explicit: set[str]  # consent = true in every row of the id
    refused: set[str]  # consent = false in some row

    @classmethod
    def read(cls, ws: Workspace) -> _Consent:
        path = ws.table_path(C.CUSTOMERS)
        frame = pd.read_parquet(path) if path.exists() else pd.DataFrame({C.CUSTOMER_ID: []})
        ids = frame[C.CUSTOMER_ID].astype(str)
        if C.MARKETING_CONSENT not in frame.columns:
            return cls(ids, set(), set())
        consent = frame[C.MARKETING_CONSENT].astype("boolean")
        yes = consent.fillna(False).to_numpy(dtype=bool)
        no = consent.eq(False).fillna(False).to_numpy(dtype=bool)
        return cls(ids, set(ids[yes]) - set(ids[~yes]), set(ids[no]))

    @cached_property
    def known(self) -> set[str]:
        return set(self.ids)


def _listed_ids(path: Path) -> pd.Series:
    """The distinct customer ids an export lists, as text."""
    if path.suffix.lower() == ".parquet":
        ids = pd.read_parquet(path, columns=[C.CUSTOMER_ID])[C.CUSTOMER_ID]
    else:
        ids = pd.read_csv(path, usecols=[C.CUSTOMER_ID], dtype=str, keep_default_na=False)
        ids = ids[C.CUSTOMER_ID]
    return pd.Series(ids.astype(str).unique())


def _unescaped(cell: str) -> str:
    """The id `escape_cell` turned into `cell` when it added a `'`; else the cell itself."""
    rest = cell[1:]
    return rest if cell.startswith("'") and escape_cell(rest) != rest else cell


def _withdrawn(path: Path, rule: str, consent: _Consent) -> int:
    """How many customers listed in `path` its consent rule no longer allows."""
    ids = _listed_ids(path)
    if path.suffix.lower() == ".csv":  # `'=x` is the escaped id `=x` unless `'=x` is an id
        quoted = ids.str.startswith("'").to_numpy(dtype=bool, copy=True)
        if quoted.any():
            quoted[quoted] = [i not in consent.known for i in ids[quoted]]
            ids = ids.where(~quoted, ids.map(_unescaped))
    if rule == "explicit":
        return sum(i not in consent.explicit for i in ids)
    return sum(i in consent.refused for i in ids)


def mark_stale_exports(ws: Workspace) -> list[Path]:
    """Mark every recorded export that lists a customer who has since lost consent; returns
    every stale export (newly marked or before), each warned about on stderr."""
    if not _index_path(ws).exists():
        return []
    with _locked(ws):
        index = read_index(ws)
        if not index:
            return []
        consent = _Consent.read(ws)
        stale: list[Path] = []
        changed = False
        for name, entry in index.items():
            path = Path(name)
            if not path.exists():
                continue
            if not entry.get("stale"):
                withdrawn = _withdrawn(path, entry.get("consent_rule", "explicit"), consent)
                if withdrawn:
                    entry["stale"] = (
                        f"written {entry['written_at']}; {withdrawn:,} customer(s) on it no "
                        "longer have marketing consent"
                    )
                    changed = True
            if entry.get("stale"):
                marker = stale_marker(path)
                write_text(
                    marker,
                    f"STALE: do not use {path.name} to contact customers.\n{entry['stale']}.\n"
                    "`churnrec refresh` rewrites the scores export and removes other stale "
                    "exports; or run the command that made it again.\n",
                )
                say(
                    f"[churnrec] WARNING: stale export {path}: {entry['stale']} (see {marker.name})"
                )
                stale.append(path)
        if changed:
            write_json(_index_path(ws), index, sort_keys=True)
        return stale


def settle_stale_exports(ws: Workspace) -> list[str]:
    """Remove stale exports (and markers) not rewritten since, and entries of exports deleted
    by hand; lines saying what went. `refresh` calls it after rewriting its scores export."""
    if not _index_path(ws).exists():
        return []
    with _locked(ws):
        index = read_index(ws)
        lines: list[str] = []
        gone = [n for n, e in index.items() if e.get("stale") or not Path(n).exists()]
        for name in gone:
            path = Path(name)
            if path.exists():
                path.unlink()
                lines.append(
                    f"removed stale {index[name]['kind']} export {path} (written before a "
                    "consent change): run the command that made it again"
                )
            stale_marker(path).unlink(missing_ok=True)
            del index[name]
        if gone:
            write_json(_index_path(ws), index, sort_keys=True)
        return lines
