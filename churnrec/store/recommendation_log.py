"""Where the recommendation logs live, and erasing a customer from them: below the service
(which writes them), the read-out (which reads them) and `churnrec forget`."""

from __future__ import annotations

import json
from pathlib import Path

from churnrec.files import write_text
from churnrec.ids import id_key, pseudonym
from churnrec.workspace import Workspace

LOG_DIR = "recommendation_log"
IMPRESSIONS_FILE = "impressions.jsonl"
EVENTS_FILE = "events.jsonl"
CHAMPION_ARM = "champion"  # the arm every customer is on without an A/B
CHALLENGER_ARM = "challenger"


def log_dir(workspace: Workspace | str | Path) -> Path:
    return Workspace.at(workspace).data_dir / LOG_DIR


def scrub_logs(workspace: Workspace, customer_ids: frozenset[str]) -> dict[Path, int]:
    """Drop the lines of erased customers (matched by pseudonym) from both logs, rewriting
    each changed file atomically; {file: lines removed}. Used by `churnrec forget`."""
    key = id_key(workspace.data_dir)
    gone = {pseudonym(cid, key) for cid in customer_ids}
    removed = {}
    for name in (IMPRESSIONS_FILE, EVENTS_FILE):
        path = log_dir(workspace) / name
        if not path.exists():
            continue
        kept, dropped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                customer = json.loads(line).get("customer")
            except ValueError:
                customer = None  # a torn line: nothing to recognise, kept as it was
            if customer in gone:
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            write_text(path, "".join(kept))
            removed[path] = dropped
    return removed
