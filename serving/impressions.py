"""Impressions: every recommendation answer gets an id, item positions and an arm, and is logged.

Answers and the events that name them go to `data/recommendation_log/` with the customer's
pseudonym, never the id. The A/B arm is a keyed hash of the id: stable, and not choosable.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from churnrec.columns import Score
from churnrec.files import open_private_append
from churnrec.ids import canonical_id, id_key, pseudonym
from churnrec.store.recommendation_log import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    EVENTS_FILE,
    IMPRESSIONS_FILE,
    LOG_DIR,
)
from churnrec.workspace import Workspace

EXPERIMENT_SALT = "experiments/recommender/"
Surface = Literal["recommendations", "similar_items"]
MAX_REMEMBERED = 200_000  # answers whose arm a worker remembers for /events (older: read back)
_HASH_SPACE = 16**24  # a pseudonym has 24 hex digits


def arm_for(customer_id: str, key: bytes, challenger_share: float) -> str:
    """`challenger` for a stable, keyed-hash-chosen share of customers, else `champion`."""
    if challenger_share <= 0:
        return CHAMPION_ARM
    digest = pseudonym(EXPERIMENT_SALT + canonical_id(customer_id), key)
    draw = int(digest.removeprefix("p_"), 16) / _HASH_SPACE
    return CHALLENGER_ARM if draw < challenger_share else CHAMPION_ARM


def now_utc() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Served:
    """Which recommender answers one request, and under which arm."""

    model: Any
    version: str | None
    arm: str
    challenger_share: float  # the experiment's, logged with the impression


def served_recommender(state: Any, log: RecommendationLog, customer_id: str | None) -> Served:
    """The champion, or the challenger for a customer the experiment's hash puts there."""
    share = state.challenger_share if state.challenger is not None else 0.0
    if customer_id is not None and arm_for(customer_id, log.key, share) == CHALLENGER_ARM:
        version = state.versions.recommender_challenger
        return Served(state.challenger, version, CHALLENGER_ARM, state.challenger_share)
    return Served(
        state.recommender, state.versions.recommender, CHAMPION_ARM, state.challenger_share
    )


def _replaced(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return True


class _AppendLog:
    """One JSON-lines file: whole lines in one O_APPEND write, fsynced in the background."""

    def __init__(self, path: Path, sync_seconds: float) -> None:
        self.path = path
        self.sync_seconds = sync_seconds
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._flusher: threading.Thread | None = None  # one per log, whatever the file

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._file is not None and _replaced(self.path, self._file.fileno()):
                self._file.close()  # `churnrec forget` rewrote it: append to the new file
                self._file = None
            if self._file is None:
                self._file = open_private_append(self.path)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush, name="churnrec-impressions-fsync", daemon=True
                )
                self._flusher.start()
            # under the lock: another thread may close this descriptor (file replaced, close())
            # and the number could be reused by an unrelated file
            os.write(self._file.fileno(), line)
        self._dirty.set()

    def _flush(self) -> None:
        while True:
            self._dirty.wait()
            time.sleep(self.sync_seconds)  # lines of this window share one fsync
            self._dirty.clear()
            self.sync()

    def sync(self) -> None:
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None


class RecommendationLog:
    """The impression log and the attributed events log of one workspace (thread-safe)."""

    def __init__(self, workspace: Workspace, sync_seconds: float = 0.2) -> None:
        folder = workspace.data_dir / LOG_DIR
        self.key = id_key(workspace.data_dir)
        self.impressions = _AppendLog(folder / IMPRESSIONS_FILE, sync_seconds)
        self.events = _AppendLog(folder / EVENTS_FILE, sync_seconds)
        self._answers: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self._answers_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._read_offset = 0  # bytes of impressions.jsonl already read back (other workers)

    def customer_ref(self, customer_id: str) -> str:
        return pseudonym(customer_id, self.key)

    def _remember(self, recommendation_id: str, arm: str, version: str | None) -> None:
        with self._answers_lock:
            self._answers[recommendation_id] = (arm, version)
            if len(self._answers) > MAX_REMEMBERED:
                self._answers.popitem(last=False)

    def answer_of(self, recommendation_id: str) -> tuple[str, str | None] | None:
        """(arm, model version) of an answer, from memory or the file (another worker's)."""
        with self._answers_lock:
            found = self._answers.get(recommendation_id)
        if found is not None:
            return found
        path = self.impressions.path
        if not path.exists():
            return None
        with self._read_lock:
            if path.stat().st_size < self._read_offset:  # rewritten by `churnrec forget`
                self._read_offset = 0
            with path.open("rb") as f:
                f.seek(self._read_offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            self._read_offset += end
        for line in chunk[:end].splitlines():
            try:
                record = json.loads(line)
                self._remember(
                    record["recommendation_id"], record["arm"], record[Score.MODEL_VERSION]
                )
            except (ValueError, KeyError, TypeError):
                continue  # a torn line after a crash
        with self._answers_lock:
            return self._answers.get(recommendation_id)

    def impression(
        self,
        *,
        surface: Surface,
        customer_id: str | None,
        model_version: str | None,
        arm: str,
        challenger_share: float,
        items: list[Any],
    ) -> str:
        """Log one answer; return its new `recommendation_id`."""
        recommendation_id = uuid.uuid4().hex
        self.impressions.append(
            {
                "recommendation_id": recommendation_id,
                "at": now_utc(),
                "surface": surface,
                "customer": self.customer_ref(customer_id) if customer_id is not None else None,
                Score.MODEL_VERSION: model_version,
                "arm": arm,
                "challenger_share": challenger_share,
                "items": [
                    {"item_id": it.item_id, "position": it.position, "source": it.source}
                    for it in items
                ],
            }
        )
        self._remember(recommendation_id, arm, model_version)
        return recommendation_id

    def event(
        self,
        *,
        recommendation_id: str,
        position: int | None,
        customer_id: str,
        item_id: str,
        event_type: str,
        occurred_at: str,
    ) -> str | None:
        """Log an event that names the answer it came from; return the arm it inherits."""
        answer = self.answer_of(recommendation_id)
        arm, version = answer if answer is not None else (None, None)
        self.events.append(
            {
                "recommendation_id": recommendation_id,
                "position": position,
                "customer": self.customer_ref(customer_id),
                "item_id": item_id,
                "event_type": event_type,
                "occurred_at": occurred_at,
                "recorded_at": now_utc(),
                "arm": arm,
                Score.MODEL_VERSION: version,
            }
        )
        return arm

    def close(self) -> None:
        self.impressions.close()
        self.events.close()


def finish_answer(
    response: Any,
    log: RecommendationLog,
    served: Served,
    *,
    surface: Surface,
    customer_id: str | None,
) -> Any:
    """Number the items, give the answer its id and arm, and log it as an impression."""
    for position, item in enumerate(response.items, start=1):
        item.position = position
    response.arm = served.arm
    response.model_version = served.version
    response.recommendation_id = log.impression(
        surface=surface,
        customer_id=customer_id,
        model_version=served.version,
        arm=served.arm,
        challenger_share=served.challenger_share,
        items=response.items,
    )
    return response
