"""Section 5: the session funnel overall, per platform and per channel; the commonest paths
before a drop-out; error events near drop-outs."""

from __future__ import annotations

from itertools import pairwise

import pandas as pd

from churnrec import columns as C
from churnrec.insights.report import charts
from churnrec.insights.report.context import ERROR_STEP, EVENTS, SESSIONS, ReportContext
from churnrec.insights.report.palette import ACCENT, MUTED
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import label, num, pct

STEPS = C.FUNNEL_EVENTS
TOP_PATHS = 10
PATH_TAIL = 6  # a drop-out path shows at most its last 6 steps
MIN_SESSIONS_TO_COMPARE = 30


def build(ctx: ReportContext) -> Section:
    section = Section(
        "funnel",
        "Funnel and paths",
        f"Every session up to {ctx.as_of}. A session counts at a step when it has at least "
        "one event of that step; `in order` also asks for every earlier step before it.",
    )
    if not ctx.has_events:
        section.missing.append(
            "Funnel, paths and errors: no events table (ingest one with --events: "
            "customer_id, occurred_at, event_type, session_id, channel, platform)."
        )
        for key in ("funnel", "funnel_by_platform", "funnel_by_channel", "dropout_paths"):
            section.add_table(key, pd.DataFrame(), show=False)
        return section
    funnel = funnel_table(ctx)
    section.add_table("funnel", funnel)
    if funnel.attrs["missing_steps"]:
        missing = ", ".join(label(s) for s in funnel.attrs["missing_steps"])
        section.missing.append(
            f"Funnel step(s) {missing}: no such events (map yours with --column event_type=... "
            "or the report config's events section); the funnel runs over the steps present."
        )
    if not funnel.empty:
        section.add_chart(_funnel_chart(ctx, funnel))
    splits = {}
    for column, present in (("platform", ctx.has_platform), ("channel", ctx.has_event_channel)):
        table = split_table(ctx, column) if present else pd.DataFrame()
        section.add_table(f"funnel_by_{column}", table, show=present)
        if present:
            splits[column] = table
        else:
            section.missing.append(f"Funnel by {column}: the events carry no {column} column.")
    if splits:
        section.add_chart(_split_chart(ctx, splits))
    paths = dropout_paths(ctx)
    section.add_table("dropout_paths", paths)
    errors = error_table(ctx)
    section.add_table("errors", errors)
    if errors.empty:
        section.missing.append(
            "Errors near drop-outs: no error events (names containing error, fail or bug, or "
            "listed under events.errors in the report config)."
        )
    else:
        section.notes.append(_error_takeaway(errors))
    return section


def funnel_table(ctx: ReportContext) -> pd.DataFrame:
    """Sessions per funnel step, over the steps the events record (no step of 0 sessions that is
    simply not logged, no division by zero); `attrs["missing_steps"]` names the others."""
    *reached, all_sessions = ctx.con.execute(
        f"SELECT {', '.join(f'COUNT({s}_at)' for s in STEPS)}, COUNT(*) FROM {SESSIONS}"
    ).fetchone()
    steps = [s for s, n in zip(STEPS, reached, strict=True) if n]
    conditions = [f"{s}_at IS NOT NULL" for s in steps[:1]]
    conditions += [f"{b}_at >= {a}_at" for a, b in pairwise(steps)]  # each after the one before
    in_order = [
        f"COUNT(*) FILTER (WHERE {' AND '.join(conditions[: i + 1])})" for i in range(len(steps))
    ]
    ordered = (
        ctx.con.execute(f"SELECT {', '.join(in_order)} FROM {SESSIONS}").fetchone() if steps else ()
    )
    frame = pd.DataFrame(
        {
            "step": steps,
            "sessions": [int(n) for n in reached if n],
            "in_order_sessions": [int(v) for v in ordered],
        }
    )
    frame["step_conversion"] = frame["sessions"] / frame["sessions"].shift(1)
    frame["in_order_step_conversion"] = frame["in_order_sessions"] / frame[
        "in_order_sessions"
    ].shift(1).where(lambda v: v > 0)
    frame["share_of_sessions"] = frame["sessions"] / all_sessions if all_sessions else 0.0
    frame.attrs["all_sessions"] = all_sessions
    frame.attrs["missing_steps"] = [s for s in STEPS if s not in steps]
    frame.attrs["cart_abandonment"] = None
    if C.EVENT_ADD_TO_CART in steps:
        (abandoned,) = ctx.con.execute(
            f"SELECT AVG(CASE WHEN purchase_at IS NULL THEN 1.0 ELSE 0.0 END) FROM {SESSIONS} "
            "WHERE add_to_cart_at IS NOT NULL"
        ).fetchone()
        frame.attrs["cart_abandonment"] = None if abandoned is None else float(abandoned)
    return frame


def split_table(ctx: ReportContext, column: str) -> pd.DataFrame:
    steps = ", ".join(f"COUNT({s}_at) AS {s}" for s in STEPS)
    frame = ctx.query(
        f"""
        SELECT COALESCE({column}, '(unknown)') AS {column}, COUNT(*) AS sessions, {steps},
               AVG(CASE WHEN purchase_at IS NULL THEN 1.0 ELSE 0.0 END)
                   FILTER (WHERE add_to_cart_at IS NOT NULL) AS cart_abandonment
        FROM {SESSIONS} GROUP BY 1 ORDER BY sessions DESC
        """
    )
    frame["conversion"] = frame[C.EVENT_PURCHASE] / frame["sessions"]
    return frame


def dropout_paths(ctx: ReportContext) -> pd.DataFrame:
    """Commonest step sequences of sessions without a purchase (repeats collapsed)."""
    frame = ctx.query(
        f"""
        WITH ev AS (
            SELECT e.session_id, e.occurred_at,
                   CASE WHEN e.step IS NULL OR e.step = '{ERROR_STEP}' THEN e.name
                        ELSE e.step END AS label
            FROM {EVENTS} e JOIN {SESSIONS} s USING (session_id)
            WHERE s.purchase_at IS NULL
        ), listed AS (
            SELECT session_id, list(label ORDER BY occurred_at) AS all_steps
            FROM ev GROUP BY 1
        ), paths AS (
            SELECT list_filter(all_steps, lambda x, i: i = 1 OR x <> all_steps[i - 1]) AS steps
            FROM listed
        )
        SELECT CASE WHEN len(steps) > {PATH_TAIL} THEN '... > ' ELSE '' END
                   || array_to_string(list_slice(steps, -{PATH_TAIL}, -1), ' > ')
                   || ' > (exit)' AS path,
               COUNT(*) AS sessions
        FROM paths GROUP BY 1 ORDER BY sessions DESC, path LIMIT {TOP_PATHS}
        """
    )
    (dropped,) = ctx.con.execute(
        f"SELECT COUNT(*) FROM {SESSIONS} WHERE purchase_at IS NULL"
    ).fetchone()
    frame["share_of_dropouts"] = frame["sessions"] / max(dropped, 1)
    return frame


def error_table(ctx: ReportContext) -> pd.DataFrame:
    """Per error event: sessions, their drop-out rate (against checkout sessions without an
    error), minutes from the error to the exit, and the platform where it happens most."""
    frame = ctx.query(
        f"""
        WITH err AS (
            SELECT e.name, e.session_id, MIN(e.occurred_at) AS at
            FROM {EVENTS} e WHERE e.step = '{ERROR_STEP}' GROUP BY 1, 2
        ), joined AS (
            SELECT err.name, s.*, date_diff('second', err.at, s.ended_at) / 60.0 AS minutes
            FROM err JOIN {SESSIONS} s USING (session_id)
        ), top_platform AS (
            SELECT name, arg_max(platform, n) AS platform, MAX(n) * 1.0 / SUM(n) AS share
            FROM (SELECT name, platform, COUNT(*) AS n FROM joined
                  WHERE platform IS NOT NULL GROUP BY 1, 2)
            GROUP BY 1
        )
        SELECT j.name AS event, COUNT(*) AS sessions,
               AVG(CASE WHEN purchase_at IS NULL THEN 1.0 ELSE 0.0 END) AS dropout_rate,
               MEDIAN(minutes) FILTER (WHERE purchase_at IS NULL) AS minutes_to_exit,
               ANY_VALUE(t.platform) AS top_platform, ANY_VALUE(t.share) AS top_platform_share
        FROM joined j LEFT JOIN top_platform t USING (name)
        GROUP BY 1 ORDER BY sessions DESC
        """
    )
    (baseline,) = ctx.con.execute(
        f"SELECT AVG(CASE WHEN purchase_at IS NULL THEN 1.0 ELSE 0.0 END) FROM {SESSIONS} "
        "WHERE checkout_at IS NOT NULL AND errors = 0"
    ).fetchone()
    frame["dropout_rate_checkout_without_error"] = baseline
    return frame


def _funnel_chart(ctx: ReportContext, funnel: pd.DataFrame) -> charts.Chart:
    fig, (ax,) = charts.figure(3.0)
    names = [label(s) for s in funnel["step"]]
    colors = [ACCENT] * (len(names) - 1) + ["#009E73"] if names else []
    charts.bars(ax, names, funnel["sessions"], colors)
    for i, conv in enumerate(funnel["step_conversion"]):
        if i and pd.notna(conv):
            ax.annotate(
                f"{pct(conv)} of previous",
                (i, funnel["sessions"].iloc[i] / 2),
                ha="center",
                color="white",
                fontsize=8,
            )
    ax.set_ylabel("sessions")
    return charts.render(fig, "Session funnel", funnel_takeaway(funnel))


def funnel_takeaway(funnel: pd.DataFrame) -> str:
    """The sentence under the funnel chart, from whatever steps the funnel has."""
    total = funnel.attrs["all_sessions"]
    reached = [
        f"{pct(share)} reached {label(step)}"
        for step, share in zip(funnel["step"].iloc[1:], funnel["share_of_sessions"].iloc[1:])
    ]
    text = f"Of {num(total)} sessions, " + (", ".join(reached) or "none went past the first step")
    if funnel.attrs.get("cart_abandonment") is not None:
        text += f"; {pct(funnel.attrs['cart_abandonment'])} of carts were abandoned"
    drops = (1 - funnel["step_conversion"]).iloc[1:].dropna()
    if not drops.empty:
        worst = int(drops.idxmax())
        text += (
            f". The biggest loss is {label(funnel['step'].iloc[worst - 1])} \u2192 "
            f"{label(funnel['step'].iloc[worst])} ({pct(drops.loc[worst])} of sessions lost)"
        )
    if funnel.attrs.get("missing_steps"):
        text += f". No {', '.join(label(s) for s in funnel.attrs['missing_steps'])} step recorded"
    return text + "."


def _split_chart(ctx: ReportContext, splits: dict[str, pd.DataFrame]) -> charts.Chart:
    fig, axes = charts.figure(3.2, ncols=len(splits))
    parts = []
    for ax, (column, table) in zip(axes, splits.items(), strict=True):
        table = table.sort_values("conversion", ascending=False)
        colours = (
            [ctx.palette.channel(c) for c in table[column]]
            if column == "channel"
            else [MUTED if i else ACCENT for i in range(len(table))]
        )
        charts.bars(
            ax,
            [label(v) for v in table[column]],
            table["conversion"],
            colours,
            horizontal=True,
            fmt="{:.1%}",
        )
        ax.set_title(f"sessions that bought, by {column}")
        big = table[table["sessions"] >= MIN_SESSIONS_TO_COMPARE]
        if len(big) >= 2:
            best, worst = big.iloc[0], big.iloc[-1]
            parts.append(
                f"by {column}, {label(best[column])} converts {pct(best['conversion'], 1)} of "
                f"sessions against {pct(worst['conversion'], 1)} for {label(worst[column])}"
            )
    takeaway = ("; ".join(parts) or "Too few sessions per group to compare.").capitalize()
    return charts.render(fig, "Conversion by platform and channel", takeaway + ".")


def _error_takeaway(errors: pd.DataFrame) -> str:
    top = errors.iloc[0]
    text = (
        f"{top['event']}: {pct(top['dropout_rate'])} of the {num(top['sessions'])} sessions "
        f"with it ended without a purchase, against "
        f"{pct(top['dropout_rate_checkout_without_error'])} of checkout sessions without an "
        "error"
    )
    if pd.notna(top["top_platform"]):
        text += f"; {pct(top['top_platform_share'])} of them on {label(top['top_platform'])}"
    return text + "."
