"""Everything the sections share, computed once: DuckDB tables of orders and sessions, both
periods' snapshots and churn scores; every table holds only rows before T + 1 day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.features import sql as feature_sql
from churnrec.features.db import connect, default_as_of
from churnrec.features.pipeline import SNAPSHOT_FILE
from churnrec.features.snapshot import MONETARY_COLUMNS, build_customer_snapshot
from churnrec.insights.report.config import ERROR_PATTERNS, ReportConfig
from churnrec.insights.report.palette import Palette
from churnrec.models.base import ModelKind
from churnrec.scores.champions import load_champions
from churnrec.scores.config import ServingConfig
from churnrec.scores.table import score_snapshot
from churnrec.scores.workspace_scores import tier_clv
from churnrec.workspace import Workspace

ORDERS = "r_orders"  # one row per order up to T (non-returned lines), with its sequence number
EVENTS = "r_events"  # view: events up to T with their funnel step (or 'error') and session
SESSIONS = "r_sessions"  # one row per session: start, channel, platform, time of each step
ERROR_STEP = "error"


class ReportDataError(ValueError):
    """The workspace holds nothing the report can describe (e.g. no orders up to the cut-off)."""


@dataclass
class ChurnScores:
    """The churn champion's scores of the snapshot; without them, `reason` says why."""

    probability: pd.Series | None = None  # indexed like the snapshot
    table: pd.DataFrame | None = None  # the scores table (tiers, reasons), indexed likewise
    metrics: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    reason: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # the version's (quality band among them)


@dataclass
class ReportContext:
    ws: Workspace
    con: duckdb.DuckDBPyConnection
    as_of: date
    config: ReportConfig
    snapshot: pd.DataFrame
    previous_snapshot: pd.DataFrame
    has_monetary: bool
    has_customers: bool
    has_events: bool
    has_platform: bool
    has_event_channel: bool
    palette: Palette
    churn: ChurnScores
    spend: pd.DataFrame | None = None
    serving: ServingConfig = field(default_factory=ServingConfig)  # tiers, as score and serve

    @property
    def period_days(self) -> int:
        return self.config.period_days

    @property
    def previous_as_of(self) -> date:
        return self.as_of - timedelta(days=self.period_days)

    def end(self, as_of: date | None = None) -> pd.Timestamp:
        """Exclusive upper bound of history at a cut-off: midnight after it."""
        return pd.Timestamp((as_of or self.as_of) + timedelta(days=1))

    def query(self, text: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.con.execute(text, params or {}).df()


def open_context(
    workspace: Workspace | str,
    as_of: date | None,
    config: ReportConfig,
    *,
    serving: ServingConfig | None = None,
) -> ReportContext:
    """Read the workspace once into DuckDB temp tables and build both snapshots."""
    ws = Workspace.at(workspace)
    ws.read_manifest()  # a clear error when nothing was ingested
    con = connect(ws)
    try:
        cutoff = as_of or default_as_of(con)
    except ValueError as exc:
        raise ReportDataError(f"{ws.root}: {exc}") from exc
    end = pd.Timestamp(cutoff + timedelta(days=1))
    _orders_table(con, end)
    (n_orders,) = con.execute(f"SELECT COUNT(*) FROM {ORDERS}").fetchone()
    if not n_orders:
        raise ReportDataError(f"no orders on or before {cutoff} in {ws.root}: nothing to report on")
    has_events, has_platform, has_channel = _events_tables(con, ws, end, config)
    snapshot = _current_snapshot(con, ws, cutoff)
    previous = _snapshot_without_events(con, cutoff - timedelta(days=config.period_days))
    (n_customers,) = con.execute(f"SELECT COUNT(*) FROM {C.CUSTOMERS}").fetchone()
    channels = _channel_names(con, has_events and has_channel, n_customers > 0)
    ctx = ReportContext(
        ws=ws,
        con=con,
        as_of=cutoff,
        config=config,
        snapshot=snapshot,
        previous_snapshot=previous,
        has_monetary=bool(snapshot.attrs.get("has_monetary", False)),
        has_customers=n_customers > 0,
        has_events=has_events,
        has_platform=has_platform,
        has_event_channel=has_channel,
        palette=Palette(channels),
        churn=ChurnScores(),
        serving=serving or ServingConfig(),
    )
    ctx.churn = score_with_champion(ctx)
    return ctx


def _current_snapshot(con: duckdb.DuckDBPyConnection, ws: Workspace, cutoff: date) -> pd.DataFrame:
    """The snapshot `churnrec features` wrote for this cut-off when it is newer than every
    table (the same function of the same data), else built now."""
    saved = ws.snapshot_dir(cutoff) / SNAPSHOT_FILE
    tables = [ws.table_path(kind) for kind in C.TABLE_KINDS if ws.has_table(kind)]
    if saved.exists() and all(saved.stat().st_mtime > t.stat().st_mtime for t in tables):
        frame = pd.read_parquet(saved)
        frame.attrs["has_monetary"] = all(c in frame.columns for c in MONETARY_COLUMNS)
        return frame
    return build_customer_snapshot(con, cutoff)


def _snapshot_without_events(con: duckdb.DuckDBPyConnection, cutoff: date) -> pd.DataFrame:
    """The previous period's snapshot serves segments and lifecycle stages only, which do not
    read events: hide them for this build (the event features are the costly part)."""
    con.execute(f"ALTER VIEW {C.EVENTS} RENAME TO _report_all_events")
    try:
        con.execute(f"CREATE VIEW {C.EVENTS} AS SELECT * FROM _report_all_events WHERE FALSE")
        return build_customer_snapshot(con, cutoff)
    finally:
        con.execute(f"DROP VIEW {C.EVENTS}")
        con.execute(f"ALTER VIEW _report_all_events RENAME TO {C.EVENTS}")


def _orders_table(con: duckdb.DuckDBPyConnection, end: pd.Timestamp) -> None:
    """Orders as the snapshot defines them: a distinct order id with a non-returned line, at
    its earliest such line; `seq` numbers a customer's orders from 1."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {ORDERS} AS
        WITH o AS (
            SELECT {C.CUSTOMER_ID} AS customer_id, {C.ORDER_ID} AS order_id,
                   MIN({C.ORDERED_AT}) AS ordered_at, SUM({C.AMOUNT}) AS revenue,
                   MIN({C.CHANNEL}) AS channel
            FROM {C.ORDERS}
            WHERE NOT COALESCE({C.IS_RETURN}, FALSE) AND {C.ORDERED_AT} < $end
              AND {C.CUSTOMER_ID} IS NOT NULL
            GROUP BY 1, 2
        )
        SELECT *,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS seq,
               LAG(ordered_at) OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id)
                   AS previous_at
        FROM o
        """,
        {"end": end},
    )


def _events_tables(
    con: duckdb.DuckDBPyConnection, ws: Workspace, end: pd.Timestamp, config: ReportConfig
) -> tuple[bool, bool, bool]:
    """r_events and r_sessions; returns (has events, has a platform column, has channels)."""
    path = ws.table_path(C.EVENTS)
    if not path.exists():
        return False, False, False
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)

    def column(name: str, typ: str = "VARCHAR") -> str:
        return f"CAST({name} AS {typ})" if name in names else f"CAST(NULL AS {typ})"

    cases = []
    for step, event_names in config.step_names().items():
        listed = ", ".join(feature_sql.literal(n) for n in event_names)
        cases.append(f"WHEN name IN ({listed}) THEN {feature_sql.literal(step)}")
    pattern = feature_sql.literal("|".join(ERROR_PATTERNS))
    errors = ", ".join(feature_sql.literal(n.lower()) for n in config.events.errors) or "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {EVENTS} AS
        WITH raw AS (
            SELECT CAST({C.CUSTOMER_ID} AS VARCHAR) AS customer_id,
                   CAST({C.OCCURRED_AT} AS TIMESTAMP) AS occurred_at,
                   lower(CAST({C.EVENT_TYPE} AS VARCHAR)) AS name,
                   {column(C.SESSION_ID)} AS session_id, {column(C.CHANNEL)} AS channel,
                   {column(C.PLATFORM)} AS platform
            FROM read_parquet({feature_sql.literal(str(path))})
        ), e AS (
            SELECT customer_id, occurred_at, name, channel, platform,
                   COALESCE(session_id,
                            customer_id || '|' || strftime(occurred_at, '%Y-%m-%d')) AS session_id
            FROM raw
            WHERE occurred_at < TIMESTAMP '{end.isoformat(sep=" ")}'
              AND name IS NOT NULL AND customer_id IS NOT NULL
        )
        SELECT customer_id, occurred_at, name, session_id, channel, platform,
               CASE {" ".join(cases)}
                    WHEN name IN ({errors}) OR regexp_matches(name, {pattern})
                        THEN '{ERROR_STEP}' END AS step
        FROM e
        """
    )
    step_times = ",\n".join(
        f"MIN(occurred_at) FILTER (WHERE step = {feature_sql.literal(s)}) AS {s}_at"
        for s in C.FUNNEL_EVENTS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {SESSIONS} AS
        SELECT session_id, arg_min(customer_id, occurred_at) AS customer_id,
               MIN(occurred_at) AS started_at, MAX(occurred_at) AS ended_at,
               arg_min(channel, occurred_at) FILTER (WHERE channel IS NOT NULL) AS channel,
               arg_min(platform, occurred_at) FILTER (WHERE platform IS NOT NULL) AS platform,
               {step_times},
               COUNT(*) FILTER (WHERE step = '{ERROR_STEP}') AS errors
        FROM {EVENTS} GROUP BY session_id
        """
    )
    (n, n_platform, n_channel) = con.execute(
        f"SELECT COUNT(*), COUNT(platform), COUNT(channel) FROM {SESSIONS}"
    ).fetchone()
    return n > 0, n_platform > 0, n_channel > 0


def _channel_names(con: duckdb.DuckDBPyConnection, sessions: bool, customers: bool) -> list[str]:
    queries = [f"SELECT DISTINCT channel FROM {SESSIONS}"] if sessions else []
    if customers:
        queries.append(f"SELECT DISTINCT {C.ACQUISITION_CHANNEL} FROM {C.CUSTOMERS}")
    names = {row[0] for query in queries for row in con.execute(query).fetchall()}
    return sorted(n for n in names if n is not None)


def score_with_champion(ctx: ReportContext) -> ChurnScores:
    """The churn champion's scores table of the snapshot, by the export's and the API's own
    function and serving config, so the report's tiers are theirs."""
    champions = load_champions(ctx.ws, (ModelKind.CHURN, ModelKind.CLV))
    loaded = champions.loaded.get(ModelKind.CHURN)
    if loaded is None:
        return ChurnScores(reason="no churn champion in the model store")
    if ctx.snapshot.empty:
        return ChurnScores(reason="empty snapshot")
    config = ctx.serving
    clv = tier_clv(champions, ctx.snapshot) if config.tiers.rank_by == Score.EXPECTED_LOSS else None
    try:
        table = score_snapshot(ctx.snapshot, loaded.model, None, config=config, clv=clv)
    except (KeyError, ValueError) as exc:
        reason = f"the churn champion (v{loaded.version}) cannot score this snapshot: {exc}"
        return ChurnScores(reason=reason)
    table.index = ctx.snapshot.index
    return ChurnScores(
        table[Score.CHURN_PROBABILITY].astype(float),
        table,
        loaded.metrics,
        loaded.version,
        tags=dict(loaded.tags or {}),
    )
