"""The one error a person sees when a whole file cannot be ingested."""

from __future__ import annotations


class IngestError(RuntimeError):
    """A file-level problem (unreadable file, missing or unknown column, empty file).

    Raised before anything is written, so the workspace is left as it was. The message names
    the file and the column and lists the columns that were found; the CLI prints it without a
    traceback and exits with status 2.
    """
