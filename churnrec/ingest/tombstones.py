"""Customers `churnrec forget` erased, as keyed hashes (`ids.pseudonym`), never the ids, so an
old export cannot bring them back: ingest skips their rows (quarantine too) unless a customers
row says yes with `signed_up_at` after the erasure (an old export has the old date)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from churnrec import columns as C
from churnrec.files import write_json
from churnrec.ids import canonical_id, id_key, pseudonym
from churnrec.ingest.validate import REJECTED_ROW
from churnrec.workspace import Workspace

TOMBSTONES_FILE = "tombstones.json"


def tombstones_path(workspace: Workspace) -> Path:
    return workspace.data_dir / TOMBSTONES_FILE


def read_tombstones(workspace: Workspace) -> dict[str, str]:
    """`{pseudonym: erased_at}`; empty when nobody was ever erased."""
    path = tombstones_path(workspace)
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def add_tombstones(workspace: Workspace, customer_ids: Iterable[object]) -> int:
    """Record the ids as erased; returns how many were new."""
    key = id_key(workspace.data_dir)
    stones = read_tombstones(workspace)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    new = {pseudonym(cid, key) for cid in customer_ids} - stones.keys()
    stones.update(dict.fromkeys(sorted(new), now))
    write_json(tombstones_path(workspace), stones)
    return len(new)


def lift_tombstones(workspace: Workspace, pseudonyms: Iterable[str]) -> None:
    """Remove tombstones (the customer came back with a new explicit consent)."""
    gone = set(pseudonyms)
    if not gone:
        return
    stones = read_tombstones(workspace)
    write_json(tombstones_path(workspace), {p: t for p, t in stones.items() if p not in gone})


def _hashes(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonym of each value, computed once per distinct value."""
    text = values.astype("object").where(values.notna(), "")
    lookup = {v: pseudonym(v, key) for v in pd.unique(text)}
    return text.map(lookup)


def _consented_again(checked: Any, stones: dict[str, str], key: bytes) -> set[str]:
    """Tombstoned customers who came back: a customers row with consent yes *and* a
    `signed_up_at` after their erasure. An old export still holds the customer's old yes, so
    a yes alone cannot tell a new consent from the one given before the erasure."""
    frame = checked.accepted
    needed = {C.CUSTOMER_ID, C.MARKETING_CONSENT, C.SIGNED_UP_AT}
    if checked.kind != C.CUSTOMERS or not needed <= set(frame.columns):
        return set()
    yes = frame[frame[C.MARKETING_CONSENT].fillna(False).astype(bool)]
    hashes = _hashes(yes[C.CUSTOMER_ID], key)
    # erasure times as naive UTC, the way ingest stores dates; NaT for ids never erased
    erased_at = pd.to_datetime(hashes.map(stones), utc=True).dt.tz_localize(None)
    return set(hashes[(yes[C.SIGNED_UP_AT] >= erased_at).to_numpy(dtype=bool)])


def _quarantine_mask(quarantine: pd.DataFrame, erased: set[str], key: bytes) -> pd.Series:
    """Quarantine rows with any cell that is an erased id (raw rows keep the shop's names)."""
    hit = pd.Series(False, index=quarantine.index)
    for name in quarantine.columns:
        hit |= _hashes(quarantine[name].map(canonical_id), key).isin(erased)
    return hit


def skip_erased(
    workspace: Workspace, checked_all: list[tuple[Any, Any]]
) -> tuple[list[tuple[Any, Any]], set[str]]:
    """Drop erased customers' rows from every checked table; returns the tables and the
    tombstones to lift (erased customers who came back with consent yes) after the commit."""
    stones = read_tombstones(workspace)
    if not stones:
        return checked_all, set()
    key = id_key(workspace.data_dir)
    back = set().union(*(_consented_again(checked, stones, key) for _, checked in checked_all))
    erased = stones.keys() - back
    out = []
    for raw, checked in checked_all:
        accepted, quarantine = checked.accepted, checked.quarantine
        if C.CUSTOMER_ID in accepted.columns and len(accepted):
            accepted = accepted[~_hashes(accepted[C.CUSTOMER_ID], key).isin(erased)]
        rejected = 0
        if len(quarantine):
            hit = _quarantine_mask(quarantine, erased, key)
            rejected = int((hit & (quarantine[C.QUARANTINE_ACTION] == REJECTED_ROW)).sum())
            quarantine = quarantine[~hit]
        skipped = len(checked.accepted) - len(accepted) + rejected
        warnings = list(checked.warnings)
        if skipped:
            warnings.append(
                f"{checked.source}: {skipped:,} rows of erased customers skipped (tombstones in "
                f"{tombstones_path(workspace)}); a customers row with marketing_consent yes "
                "and signed_up_at after the erasure brings a customer back"
            )
        kept = dataclasses.replace(
            checked,
            accepted=accepted,
            quarantine=quarantine,
            rows_read=checked.rows_read - skipped,  # the summary counts the rest
            rows_quarantined=checked.rows_quarantined - rejected,
            warnings=warnings,
        )
        out.append((raw, kept))
    return out, back
