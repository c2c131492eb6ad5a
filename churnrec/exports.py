"""Contact exports that outlive a consent change are marked stale, then rewritten or removed.

Why: a target list or scores export is a list of people to contact. When a customer opts out
(or is erased) after it was written, the file still names them. So:

- every contact export (`churnrec score`'s scores, `churnrec target`'s target list,
  `churnrec recommend --for-marketing --out`) is recorded in `data/exports/index.json` with
  the set of customers who had explicit marketing consent when it was written (stored as
  keyed pseudonyms, `churnrec.ids.pseudonym`, so an erased customer's id is not kept here);
- after every ingest, an export whose consenting customers include one who no longer has
  explicit consent is **stale**: a sidecar `<export>.stale` is written beside it saying why,
  and a loud warning goes to stderr (again at every later ingest until it is dealt with);
- `churnrec refresh` rewrites the scores export it maintains and **removes** the other stale
  exports (and their markers): their options (campaign size, budget, ...) are not known here,
  so the person who made them runs `churnrec target` / `recommend` again.

New customers or new consents do not make an export stale: only consent that went away does.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.files import private_dir, write_json, write_parquet, write_text
from churnrec.ids import canonical_id, id_key, pseudonym
from churnrec.progress import say
from churnrec.workspace import Workspace

EXPORTS_DIR = "exports"
INDEX_FILE = "index.json"
STALE_SUFFIX = ".stale"
KINDS = ("scores", "target_list", "recommendations")


def exports_dir(ws: Workspace) -> Path:
    return ws.data_dir / EXPORTS_DIR


def stale_marker(path: str | Path) -> Path:
    """`<export>.stale`, beside the export."""
    path = Path(path)
    return path.with_name(path.name + STALE_SUFFIX)


def _index_path(ws: Workspace) -> Path:
    return exports_dir(ws) / INDEX_FILE


def read_index(ws: Workspace) -> dict[str, dict[str, Any]]:
    """`{absolute export path: {kind, written_at, consent, stale?}}` ({} when none)."""
    path = _index_path(ws)
    return json.loads(path.read_text()) if path.exists() else {}


def _consenting(ws: Workspace) -> np.ndarray:
    """Pseudonyms of customers whose every customers row says consent = true, sorted."""
    path = ws.table_path(C.CUSTOMERS)
    if not path.exists():
        return np.array([], dtype=object)
    frame = pd.read_parquet(path)
    if C.MARKETING_CONSENT not in frame.columns:
        return np.array([], dtype=object)
    ids = frame[C.CUSTOMER_ID].map(canonical_id)
    yes = frame[C.MARKETING_CONSENT].astype("boolean").fillna(False).astype(bool)
    allowed = yes.groupby(ids).all()
    key = id_key(ws.data_dir)
    return np.sort(np.array([pseudonym(i, key) for i in allowed.index[allowed]], dtype=object))


def _fingerprint(consenting: np.ndarray) -> str:
    return hashlib.sha256("\n".join(consenting).encode()).hexdigest()[:16]


def record_export(ws: Workspace, path: str | Path, kind: str) -> None:
    """Remember a freshly written contact export with today's consenting customers."""
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    consenting = _consenting(ws)
    fingerprint = _fingerprint(consenting)
    private_dir(exports_dir(ws))
    baseline = exports_dir(ws) / f"consent-{fingerprint}.parquet"
    if not baseline.exists():
        write_parquet(pd.DataFrame({"pseudonym": consenting.astype(str)}), baseline)
    index = read_index(ws)
    index[str(Path(path).resolve())] = {
        "kind": kind,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "consent": fingerprint,
    }
    stale_marker(path).unlink(missing_ok=True)
    _save(ws, index)


def _save(ws: Workspace, index: dict[str, dict[str, Any]]) -> None:
    write_json(_index_path(ws), index, sort_keys=True)
    used = {f"consent-{e['consent']}.parquet" for e in index.values()}
    for old in exports_dir(ws).glob("consent-*.parquet"):
        if old.name not in used:
            old.unlink(missing_ok=True)


def mark_stale_exports(ws: Workspace) -> list[Path]:
    """Mark every recorded export that names a customer who has since lost explicit consent.

    Returns every stale export (newly marked or marked before), each warned about on stderr.
    """
    index = read_index(ws)
    if not index:
        return []
    consenting = _consenting(ws)
    fingerprint = _fingerprint(consenting)
    stale: list[Path] = []
    changed = False
    for name, entry in index.items():
        path = Path(name)
        if not path.exists():
            continue
        if not entry.get("stale") and entry["consent"] != fingerprint:
            baseline = pd.read_parquet(exports_dir(ws) / f"consent-{entry['consent']}.parquet")
            withdrawn = int((~baseline["pseudonym"].isin(consenting)).sum())
            if withdrawn:
                entry["stale"] = (
                    f"written {entry['written_at']}; {withdrawn:,} customer(s) who had marketing "
                    "consent then no longer have it"
                )
                changed = True
        if entry.get("stale"):
            write_text(
                stale_marker(path),
                f"STALE: do not use {path.name} for contacting customers.\n{entry['stale']}.\n"
                "`churnrec refresh` rewrites the scores export and removes other stale exports;"
                " or run the command that made it again.\n",
            )
            say(
                f"[churnrec] WARNING: stale export {path} ({entry['stale']}); see {path.name}.stale"
            )
            stale.append(path)
    if changed:
        _save(ws, index)
    return stale


def settle_stale_exports(ws: Workspace) -> list[str]:
    """Remove stale exports (and markers) that were not rewritten; lines saying what went.

    Called by `refresh` after it rewrote its scores export (which clears that one's mark).
    """
    index = read_index(ws)
    lines: list[str] = []
    dropped = False
    for name in [n for n, e in index.items() if e.get("stale") or not Path(n).exists()]:
        path = Path(name)
        if path.exists():
            path.unlink()
            lines.append(
                f"removed stale {index[name]['kind']} export {path} (written before a consent "
                "change): run the command that made it again"
            )
        stale_marker(path).unlink(missing_ok=True)
        del index[name]
        dropped = True
    if dropped:
        _save(ws, index)
    return lines
