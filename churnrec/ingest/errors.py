"""The one error a person sees when a whole file cannot be ingested."""

from __future__ import annotations


class IngestError(RuntimeError):
    """A file-level problem, raised before anything is written; the CLI prints it without a
    traceback (exit 2), so the message names the file, the column and the columns found."""
