"""The bundled CDNOW logs as orders (samples/cdnow/README.md). Identical lines of one customer
on one day are real, separate purchases, so `duplicate_line` is off: all 6,919 (sample) /
69,659 (master) lines are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from churnrec import columns as C
from churnrec.ingest.errors import IngestError
from churnrec.ingest.options import ReadOptions
from churnrec.ingest.pipeline import ingest_raw
from churnrec.ingest.readers import read_whitespace
from churnrec.ingest.summary import IngestSummary
from churnrec.workspace import Workspace


@dataclass(frozen=True)
class Sample:
    file: str
    names: list[str] | None  # None: the file has a header line


_CDNOW_MAPPING = {
    C.CUSTOMER_ID: C.CUSTOMER_ID,
    C.ORDERED_AT: "date",
    C.QUANTITY: "number_of_cds",
    C.AMOUNT: "dollar_value",
}
SAMPLES: dict[str, Sample] = {
    "cdnow": Sample(
        "CDNOW_sample.txt", [C.CUSTOMER_ID, "sample_id", "date", "number_of_cds", "dollar_value"]
    ),
    "cdnow-master": Sample("CDNOW_master.txt.gz", None),
}


HILLSTROM = "hillstrom"  # not bundled: see hillstrom.py


def sample_path(name: str) -> Path:
    """Where the bundled file of a sample lives inside the installed package."""
    if name not in SAMPLES:
        names = ", ".join([*SAMPLES, HILLSTROM])
        raise IngestError(f"unknown sample {name!r}; expected one of {names}")
    return Path(str(resources.files("churnrec") / "samples" / "cdnow" / SAMPLES[name].file))


def ingest_sample(workspace: Workspace, name: str, *, now: datetime | None = None) -> IngestSummary:
    """Ingest a bundled CDNOW file as the workspace's orders (or the Hillstrom experiment)."""
    if name == HILLSTROM:
        from churnrec.ingest.hillstrom import ingest_hillstrom

        return ingest_hillstrom(workspace, now=now)
    path = sample_path(name)
    raw = read_whitespace(path, C.ORDERS, SAMPLES[name].names)
    options = ReadOptions(date_format="%Y%m%d", allow_duplicate_lines=True)
    return ingest_raw(workspace, [(raw, dict(_CDNOW_MAPPING))], options=options, now=now)
