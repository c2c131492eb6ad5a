"""`churnrec ingest`: a shop's files -> validated canonical Parquet tables in the workspace.

Modules, one job each: `readers` (CSV / CSV.gz / Parquet / whitespace text), `mapping`
(`--column` flags and YAML config), `dates` (date format detection), `validate` (row rules ->
quarantine), `store` (idempotent merge, atomic writes, manifest), `summary` (the report),
`samples` (bundled CDNOW), `pipeline` (the job that ties them together).
"""

from churnrec.ingest.errors import IngestError
from churnrec.ingest.pipeline import ingest
from churnrec.ingest.samples import ingest_sample
from churnrec.ingest.summary import IngestSummary, TableSummary

__all__ = ["IngestError", "IngestSummary", "TableSummary", "ingest", "ingest_sample"]
