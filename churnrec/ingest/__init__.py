"""`churnrec ingest`: a shop's files -> validated canonical Parquet tables in the workspace.
One module per job; `pipeline` ties them together. The rules for users: docs/INPUT_RULES.md."""

from churnrec.ingest.errors import IngestError
from churnrec.ingest.pipeline import ingest
from churnrec.ingest.samples import ingest_sample
from churnrec.ingest.summary import IngestSummary, TableSummary

__all__ = ["IngestError", "IngestSummary", "TableSummary", "ingest", "ingest_sample"]
