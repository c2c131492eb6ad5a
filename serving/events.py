"""Live events (`POST /events`): appended durably, applied to the customer's history at once.

One CSV line per event in `data/live_events/events.csv` (owner-only, formula-safe, readable by
`churnrec ingest --events`), written before the answer and fsynced per `CHURNREC_EVENTS_SYNC`;
workers pick up each other's lines and a restart replays the file.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Literal

import pandas as pd
from pydantic import BaseModel, BeforeValidator, Field

from churnrec import columns as C
from churnrec.files import escape_cell, open_private_append
from churnrec.ingest.dates import DEFAULT_MIN_DATE, implausible_dates
from churnrec.models.ranking.baskets import SECONDS_PER_DAY
from churnrec.serving.schemas import Id
from churnrec.workspace import Workspace

EventType = Literal["purchase", "add_to_cart", "view"]
FILE_COLUMNS = (C.CUSTOMER_ID, C.OCCURRED_AT, C.EVENT_TYPE, C.ITEM_ID)
_EPOCH = datetime(1970, 1, 1)
SYNC_MODES = ("always", "interval")
CLOCK_SKEW = timedelta(minutes=5)
_FLOOR = DEFAULT_MIN_DATE.date().isoformat()


def _naive_utc(value: object) -> object:
    """ISO strings and datetimes; tz-aware ones are converted to UTC and made naive."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("occurred_at must be an ISO 8601 date-time") from None
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _plausible_occurred_at(value: object) -> datetime:
    """A client's `occurred_at`: an ISO 8601 string (or a datetime: BentoML validates twice)
    that ingest would accept later; a number never is."""
    if not isinstance(value, str | datetime):
        raise ValueError("occurred_at must be an ISO 8601 date-time string")  # noqa: TRY004
    moment = _naive_utc(value)
    assert isinstance(moment, datetime)
    now = datetime.now(UTC).replace(tzinfo=None) + CLOCK_SKEW
    for reason, bad in implausible_dates(pd.Timestamp(moment), pd.Timestamp(now)):
        if bad:
            where = f"before {_FLOOR}" if reason == "implausible_date" else "in the future"
            raise ValueError(f"occurred_at is {where}: ingest would quarantine it as {reason}")
    return moment


# The API's type for `occurred_at` (the file replay reads `LiveEvent` without these checks).
OccurredAt = Annotated[
    datetime,
    BeforeValidator(_plausible_occurred_at),
    Field(description=f"ISO 8601; time zones are converted to UTC; {_FLOOR} .. now; default now"),
]


class LiveEvent(BaseModel):
    """One storefront event; `occurred_at` defaults to now (UTC)."""

    customer_id: Id
    item_id: Id
    event_type: EventType
    occurred_at: Annotated[datetime | None, BeforeValidator(_naive_utc)] = Field(
        None, description="ISO 8601; time zones are converted to UTC; default: now"
    )


class EventAccepted(BaseModel):
    accepted: bool
    customer_id: str
    event_type: str
    occurred_at: str
    cart_size: int = Field(description="items in the customer's live cart after this event")
    live_orders: int = Field(description="live purchases (orders) applied to this customer")
    recommendation_id: str | None = Field(
        None, description="the answer this event is attributed to, when the event named one"
    )
    arm: str | None = Field(
        None, description="the A/B arm of that answer (champion / challenger); null if unknown"
    )


def _escaped(value: str) -> bool:
    """Whether `value` is how `to_file_cell` writes some other value (a `'` it added): one or
    more `'` before text that `escape_cell` would escape."""
    core = value.lstrip("'")
    return core != value and escape_cell(core) != core


def to_file_cell(value: str) -> str:
    """An id as written to the log: formula-safe (`churnrec.files.escape_cell`), and
    reversible: an id that itself looks escaped (`'=x`) gets one more `'`."""
    return "'" + value if _escaped(value) else str(escape_cell(value))


def from_file_cell(value: str) -> str:
    """The id `to_file_cell` wrote (other cells come back unchanged)."""
    return value[1:] if _escaped(value) else value


def to_day(ts: datetime) -> float:
    return (ts - _EPOCH).total_seconds() / SECONDS_PER_DAY


@dataclass
class CustomerLive:
    orders: dict[float, list[str]] = field(default_factory=dict)  # day -> items bought then
    cart: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    viewed: dict[str, None] = field(default_factory=dict)


class LiveEvents:
    """The append-only log plus the per-customer view built from it (thread-safe)."""

    def __init__(
        self, workspace: Workspace, sync: str = "always", sync_seconds: float = 0.2
    ) -> None:
        """`sync` and `sync_seconds`: `events_sync` and `events_sync_ms` of the settings."""
        self.path = live_events_path(workspace)
        self.sync_mode = sync
        self.sync_seconds = sync_seconds
        if self.sync_mode not in SYNC_MODES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, got {self.sync_mode!r}")
        self._lock = threading.Lock()
        # Writes are numbered; `_synced` is the last number known to be on disk.
        self._sync_cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._syncing = False
        self._flusher: threading.Thread | None = None
        self._closing = threading.Event()
        self._customers: dict[str, CustomerLive] = {}
        self._versions: dict[str, int] = {}  # events seen per customer (answer cache key)
        self._fd: int | None = None
        self._file: IO[str] | None = None
        self._retired: list[IO[str]] = []  # a replaced file's handles, closed at close()
        self._inode: int | None = None  # which file the view was built from
        self._offset = 0  # bytes of the file already applied
        with self._lock:
            self._catch_up()

    # --- durability ------------------------------------------------------------------------------
    def _open(self) -> int:
        if self._fd is None:
            new = not self.path.exists()
            # 0600 in a 0700 folder (`churnrec.files`); lines go straight to the descriptor
            # (unbuffered, one O_APPEND write each), so workers' lines never interleave.
            self._file = open_private_append(self.path)
            self._fd = self._file.fileno()
            if new or self.path.stat().st_size == 0:
                os.write(self._fd, (",".join(FILE_COLUMNS) + "\n").encode())
        return self._fd

    def _catch_up(self) -> None:
        """Apply complete lines appended since the last look (by this or another worker)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return
        if self._inode is not None and info.st_ino != self._inode:
            self._start_over()
        self._inode, size = info.st_ino, info.st_size
        if size <= self._offset:
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next look
        if end == 0:
            return
        text = chunk[:end].decode()
        if self._offset == 0:
            text = text.split("\n", 1)[1] if "\n" in text else ""  # the header
        self._offset += end
        for row in csv.reader(io.StringIO(text)):
            if len(row) != len(FILE_COLUMNS):
                continue  # a torn line after a crash; the rest is intact
            values = dict(zip(FILE_COLUMNS, map(from_file_cell, row), strict=True))
            try:
                event = LiveEvent(**values)
            except ValueError:
                continue
            self._apply(event)

    def _start_over(self) -> None:
        """The file was replaced (`churnrec forget` rewrote it without erased customers):
        forget the view, append to the new file from now on and replay it from the start."""
        if self._file is not None:
            self._retired.append(self._file)  # a concurrent fsync may still hold its fd
            self._file, self._fd = None, None
        self._customers, self._versions, self._offset = {}, {}, 0

    def _sync_through(self, number: int) -> None:
        """Return once write `number` is on disk; one caller fsyncs for all who are waiting."""
        with self._sync_cond:
            while self._synced < number:
                if self._syncing:
                    self._sync_cond.wait()
                    continue
                self._syncing = True
                upto = self._written  # every write numbered so far has returned from os.write
                fd = self._fd
                self._sync_cond.release()
                try:
                    if fd is not None:
                        os.fsync(fd)
                finally:
                    self._sync_cond.acquire()
                    self._syncing = False
                    self._synced = max(self._synced, upto)
                    self._sync_cond.notify_all()

    def _flush_in_background(self) -> None:
        while not self._closing.wait(self.sync_seconds):
            if self._synced < self._written:
                self._sync_through(self._written)

    def record(self, event: LiveEvent) -> EventAccepted:
        """Append to the file, then apply; whether the answer waits for the disk is the sync
        policy (module docstring)."""
        if event.occurred_at is None:
            event = event.model_copy(update={"occurred_at": datetime.now(UTC).replace(tzinfo=None)})
        row = (event.customer_id, event.occurred_at.isoformat(), event.event_type, event.item_id)
        buf = io.StringIO()  # every cell as `_catch_up` reads it back (only ids ever change)
        csv.writer(buf, lineterminator="\n").writerow(map(to_file_cell, row))
        with self._lock:
            self._catch_up()  # notices a replaced file before writing to it
            fd = self._open()
            os.write(fd, buf.getvalue().encode())
            with self._sync_cond:
                self._written += 1
                number = self._written
            self._catch_up()  # applies this line (and any other worker's) in file order
            live = self._customers.get(event.customer_id) or self._apply(event)
            cart, orders = len(live.cart), len(live.orders)
            if self.sync_mode == "interval" and self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_in_background, name="churnrec-events-fsync", daemon=True
                )
                self._flusher.start()
        if self.sync_mode == "always":
            self._sync_through(number)
        return EventAccepted(
            accepted=True,
            customer_id=event.customer_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at.isoformat(),
            cart_size=cart,
            live_orders=orders,
        )

    def close(self) -> None:
        """Force what was written to disk, stop the flusher and close the file."""
        self._closing.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self._sync_through(self._written)
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file, self._fd = None, None
            for handle in self._retired:
                handle.close()
            self._retired = []

    # --- the in-memory view ------------------------------------------------------------------------
    def _apply(self, event: LiveEvent) -> CustomerLive:
        live = self._customers.setdefault(event.customer_id, CustomerLive())
        self._versions[event.customer_id] = self._versions.get(event.customer_id, 0) + 1
        item = event.item_id
        if event.event_type == C.EVENT_PURCHASE:
            day = to_day(event.occurred_at)
            bought = live.orders.setdefault(day, [])
            if item not in bought:
                bought.append(item)
            live.cart.pop(item, None)
        elif event.event_type == C.EVENT_ADD_TO_CART:
            live.cart[item] = None
        else:
            live.viewed[item] = None
        return live

    def history(
        self, customer_id: str, after_day: float
    ) -> tuple[list[tuple[float, list[str]]], list[str], list[str]]:
        """(live orders after `after_day` oldest first, cart items, viewed items) of a customer."""
        with self._lock:
            self._catch_up()
            live = self._customers.get(customer_id)
            if live is None:
                return [], [], []
            orders = sorted((d, list(items)) for d, items in live.orders.items() if d >= after_day)
            return orders, list(live.cart), list(live.viewed)

    def version(self, customer_id: str) -> int:
        """How many events the customer has had: changes whenever their context changes."""
        with self._lock:
            self._catch_up()
            return self._versions.get(customer_id, 0)


def live_events_path(workspace: Workspace | str | Path) -> Path:
    return Workspace.at(workspace).data_dir / "live_events" / "events.csv"
