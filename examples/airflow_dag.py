"""Airflow DAG running `churnrec refresh` once a day (an example; not imported by churnrec or tests).

The task is the same command cron runs (docs/RUNNING_DAILY.md), so there is one code path.
Exit code 3 means "refreshed, but drift crossed a threshold": the task is marked failed so the
on-call person sees it, and the next day's run still goes ahead (refresh is idempotent and
finishes a crashed run). Retries are safe for the same reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

WORKSPACE = "/srv/churnrec/shop"
DROP = "/srv/exports/orders_{{ ds_nodash }}.csv"  # the shop's nightly export of new orders

with DAG(
    dag_id="churnrec_refresh",
    schedule="30 2 * * *",  # 02:30 every night, after the export lands
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # refresh also takes a lock; this keeps Airflow from queueing overlaps
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["churnrec"],
) as dag:
    BashOperator(
        task_id="refresh",
        bash_command=(
            f"churnrec refresh {DROP} --workspace {WORKSPACE} --retrain auto --json"
            f" > {WORKSPACE}/outputs/refresh_{{{{ ds_nodash }}}}.json"
        ),
        env={"PATH": "/srv/churnrec/.venv/bin:/usr/bin:/bin"},
        append_env=True,
    )
