"""`churnrec recommend`: top-k items for every (or each listed) customer, in one owner-only file.

The champion answers through `Recommender.rank`, as `/recommendations` does, on threads (the heavy
parts release the GIL) with BLAS held to one thread each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.exports import record_export
from churnrec.files import check_table_path, write_table
from churnrec.ids import read_id_list
from churnrec.models.ranking.rules import Catalogue, Rules
from churnrec.models.recommender import TABLE_COLUMNS
from churnrec.progress import stage
from churnrec.scores.config import ServingConfig
from churnrec.scores.consent import contactable, lookup, read_consent
from churnrec.scores.export import empty_export_reason
from churnrec.serving.catalogue import catalogue_table
from churnrec.workspace import Workspace


@dataclass(frozen=True)
class RecommendExportResult:
    out: Path
    customers: int
    rows_written: int
    excluded_no_consent: int
    unknown_customers: int  # listed customers the model has no history for (popular items)
    model_version: str
    seconds: float
    empty_reason: str | None = None  # why a marketing export came out empty, and what to add

    def summary_lines(self) -> list[str]:
        rate = self.customers / self.seconds if self.seconds > 0 else float("inf")
        left_out = (
            f"left out: {self.excluded_no_consent:,} without marketing consent "
            "(unknown consent counts as none)"
        )
        return [
            (
                f"recommended for {self.customers:,} customers with recommender "
                f"v{self.model_version} in {self.seconds:.1f}s ({rate:,.0f} customers/s)"
            ),
            left_out if self.excluded_no_consent else "left out: none",
            *([self.empty_reason] if self.empty_reason else []),
            f"{self.unknown_customers:,} listed customers have no history: popular items",
            f"wrote {self.rows_written:,} rows to {self.out}",
        ]


MAX_BLOCK = 4096  # customers per rank call: bounds the per-block arrays
BLOCKS_PER_JOB = 4  # enough blocks that no thread waits long for the last one


def block_size(n_customers: int, jobs: int) -> int:
    """Customers per block: several blocks per thread (one big block left one thread doing
    all the work), at most `MAX_BLOCK` for memory, at least 256 for per-call overheads."""
    share = -(-n_customers // (jobs * BLOCKS_PER_JOB))
    return max(256, min(MAX_BLOCK, share))


def read_filters(path: Path) -> Rules | None:
    """The rules of a `--filters` YAML file; a bad file is a ValueError naming it and the field."""
    import yaml
    from pydantic import ValidationError

    from churnrec.serving.recommend import model_rules
    from churnrec.serving.schemas import RecommendationRules

    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return model_rules(RecommendationRules.model_validate(raw))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read --filters {path}: {exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"--filters {path} is not valid:\n{exc}") from exc


def rank_customers(
    model,
    ids: list[str],
    k: int,
    *,
    jobs: int | None = None,
    block: int | None = None,
    rules: Rules | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[pd.DataFrame, int]:
    """`model.rank` for `ids` in blocks on `jobs` threads (default: every core):
    the export's rows, in the order of `ids`, and how many threads ranked them."""
    from concurrent.futures import ThreadPoolExecutor

    from churnrec.models.ranking.blas import one_blas_thread
    from churnrec.settings import available_cores

    jobs = max(1, jobs or available_cores())
    block = block or block_size(len(ids), jobs)
    blocks = [ids[start : start + block] for start in range(0, len(ids), block)]
    threads = min(jobs, max(len(blocks), 1))

    def rank(chunk: list[str]) -> pd.DataFrame:
        return model.rank(chunk, k, rules=rules, catalogue=catalogue)

    # One BLAS thread per ranking thread: each block's factor product is small, and OpenBLAS
    # spreading it over cores the other blocks already use made the export a third slower.
    pool = ThreadPoolExecutor(threads, thread_name_prefix="churnrec-export")
    with one_blas_thread(), pool:
        parts = list(pool.map(rank, blocks))
    if not parts:
        return pd.DataFrame({c: [] for c in TABLE_COLUMNS}), threads
    return pd.concat(parts, ignore_index=True), threads


def export_recommendations(
    workspace: Workspace,
    *,
    out: Path,
    k: int = 10,
    customers_file: Path | None = None,
    for_marketing: bool = False,
    config: ServingConfig | None = None,
    block: int | None = None,
    jobs: int | None = None,
    filters_file: Path | None = None,
) -> RecommendExportResult:
    import time

    from churnrec.store.registry import load_champion

    check_table_path(out)
    rules = read_filters(filters_file) if filters_file is not None else None
    with stage("load recommender champion"):
        loaded = load_champion(workspace, "recommender")
    model = loaded.model
    ids = (
        read_id_list(customers_file, C.CUSTOMER_ID)
        if customers_file is not None
        else model.sources.log.users.to_list()
    )
    excluded = 0
    empty_reason = None
    if for_marketing:
        # the one consent rule of every marketing output (`scores.consent`); ids are unique
        recorded = lookup(read_consent(workspace), ids)
        unknown_allowed = (config or ServingConfig()).unknown_consent_allowed
        allowed = contactable(recorded, unknown_allowed=unknown_allowed)
        excluded = int((~allowed).sum())
        if ids and not allowed.any():
            empty_reason = empty_export_reason(len(ids), int(recorded.isna().sum()), None)
        ids = [c for c, ok in zip(ids, allowed, strict=True) if ok]
    unknown = int((model.sources.log.users.to_internal(ids, strict=False) < 0).sum())
    started = time.perf_counter()
    with stage("recommend") as s:
        catalogue = Catalogue.of(model.sources.log.items, catalogue_table(workspace))
        frame, threads = rank_customers(
            model, ids, k, jobs=jobs, block=block, rules=rules, catalogue=catalogue
        )
        seconds = time.perf_counter() - started
        s.note(f"{len(ids):,} customers on {threads} thread(s)")
    frame = frame.loc[:, list(TABLE_COLUMNS)]
    write_table(frame, out)  # formula-safe CSV or Parquet, atomic, owner-only
    if for_marketing:  # a contact list: marked stale if a listed customer opts out later
        record_export(workspace, out, "recommendations")
    return RecommendExportResult(
        out=out,
        customers=len(ids),
        rows_written=len(frame),
        excluded_no_consent=excluded,
        unknown_customers=unknown,
        model_version=loaded.version,
        seconds=seconds,
        empty_reason=empty_reason,
    )
