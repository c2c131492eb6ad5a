"""`churnrec ingest`: a shop's files -> validated canonical Parquet tables in the workspace.

Modules, one job each: `readers` (CSV / CSV.gz / Parquet / whitespace text, ragged rows),
`encoding` (UTF-8 per row, legacy fallback), `mapping` (`--column` flags and YAML config),
`options` (how values are read: flags over config), `dates` (date formats, epochs),
`numbers` (decimal/thousands per column), `consent` (yes/no vocabulary), `validate` (row rules
-> quarantine), `keys` (order-line and content keys), `store` (column-wise upsert, commit),
`quarantine` (appended per run), `manifest`, `recovery` (lock, journal, repair), `summary`
(the report), `samples` (bundled CDNOW), `hillstrom` (the e-mail experiment), `pipeline` (the
job that ties them together). The rules for users: docs/INPUT_RULES.md.
"""

from churnrec.ingest.errors import IngestError
from churnrec.ingest.pipeline import ingest
from churnrec.ingest.samples import ingest_sample
from churnrec.ingest.summary import IngestSummary, TableSummary

__all__ = ["IngestError", "IngestSummary", "TableSummary", "ingest", "ingest_sample"]
