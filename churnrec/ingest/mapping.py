"""Which of a file's columns is which canonical column. Explicit only (no guessing from
look-alike names): `--column` flags win over the YAML config's mapping per kind; else a column
of exactly the canonical name is taken."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from churnrec import columns as C
from churnrec.ingest.errors import IngestError
from churnrec.ingest.options import ReadOptions


class IngestConfig(BaseModel):
    """The YAML mapping file; unknown keys are refused so that typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    orders: dict[str, str] = {}
    customers: dict[str, str] = {}
    items: dict[str, str] = {}
    events: dict[str, str] = {}
    campaigns: dict[str, str] = {}
    date_format: str | None = None
    decimal: str | None = None  # "." or ","; unset: decided per column
    thousands: str | None = None  # ",", ".", " " or "none"
    min_date: date | str | None = None  # dates before it are implausible (default 1990-01-01)
    negative_returns: bool | None = None  # false: the shop's returns are never negative
    # caps and the zone of offset-less dates (options.py has the defaults)
    max_input_bytes: int | None = None
    max_rows: int | None = None
    max_cell_chars: int | None = None
    max_quantity: float | None = None
    max_amount: float | None = None
    timezone: str | None = None

    def read_options(self) -> ReadOptions:
        """The config's value-reading keys as options (CLI flags override them later)."""
        return ReadOptions().overridden(**self.model_dump(exclude=set(C.INGEST_KINDS)))

    def for_kind(self, kind: str) -> dict[str, str]:
        return dict(getattr(self, kind))


def kind_columns(kind: str) -> tuple[str, ...]:
    return C.REQUIRED_COLUMNS[kind] + C.OPTIONAL_COLUMNS[kind]


def parse_column_flags(flags: list[str]) -> dict[str, str]:
    """`["customer_id=CustID", ...]` -> `{"customer_id": "CustID"}`, checking NAME is ours."""
    known = {name for kind in C.INGEST_KINDS for name in kind_columns(kind)}
    mapping: dict[str, str] = {}
    for flag in flags:
        name, sep, theirs = flag.partition("=")
        name, theirs = name.strip(), theirs.strip()
        if not sep or not name or not theirs:
            raise IngestError(
                f"--column {flag!r}: expected NAME=THEIR_NAME, e.g. customer_id=CustID"
            )
        if name not in known:
            raise IngestError(
                f"--column {flag!r}: {name!r} is not a churnrec column; expected one of "
                f"{', '.join(sorted(known))}"
            )
        mapping[name] = theirs
    return mapping


def load_config(path: Path | None) -> IngestConfig:
    if path is None:
        return IngestConfig()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IngestError(f"config {path}: cannot be read ({exc})") from exc
    try:
        config = IngestConfig.model_validate(data)
    except ValidationError as exc:
        raise IngestError(f"config {path}: {exc}") from exc
    for kind in C.INGEST_KINDS:
        unknown = sorted(set(config.for_kind(kind)) - set(kind_columns(kind)))
        if unknown:
            raise IngestError(
                f"config {path}: {kind} has no column(s) {unknown}; {kind} columns are "
                f"{', '.join(kind_columns(kind))}"
            )
    return config


def resolve_columns(
    kind: str, source: str, found: list[str], column_map: dict[str, str], config: IngestConfig
) -> dict[str, str]:
    """canonical name -> the file's column name, for the columns of `kind` the file has;
    IngestError when a mapped column is not in the file or a required one is missing."""
    listing = ", ".join(found)
    mapped = {
        **config.for_kind(kind),
        **{k: v for k, v in column_map.items() if k in kind_columns(kind)},
    }
    resolved: dict[str, str] = {}
    for name in kind_columns(kind):
        if name in mapped:
            theirs = mapped[name]
            if theirs not in found:
                raise IngestError(
                    f"{kind} file {source}: column {theirs!r} (mapped to {name}) is not in the "
                    f"file; columns found: {listing}"
                )
            resolved[name] = theirs
        elif name in found:
            resolved[name] = name
    missing = [name for name in C.REQUIRED_COLUMNS[kind] if name not in resolved]
    if missing:
        hints = " ".join(f"--column {m}=THEIR_NAME" for m in missing)
        raise IngestError(
            f"{kind} file {source}: required column {', '.join(missing)} is missing; columns "
            f"found: {listing}. Map it with {hints} or a --config file."
        )
    return resolved
