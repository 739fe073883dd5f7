"""Nightly siap readiness run under Apache Airflow (2.6+ and 3.x; checked
with 2.10 and 3.3).

Copy this file into the DAGs folder of a worker that has `siap` installed
(the Debian package, or `cargo install`). Two tasks:

- `siap_run` runs `siap run ... --summary json`. siap prints its summary as
  the last line of stdout, which BashOperator pushes to XCom; its logs go
  to stderr, which Airflow keeps in the task log. Exit 7 (published, with
  warnings) counts as success here: the tables are out, and the summary's
  `status` says `published_with_warnings`. Every other non-zero code fails
  the task; codes 2, 3 and 5 (usage, invalid pipeline, lock held) are not
  worth retrying, so retries are few and short.
- `report` reads that summary and the run's manifest, and logs the counts
  (a place to branch, open a ticket or post somewhere).

The command lines below are plain strings so a test can run them as
written (tests/cli/deploy.rs), with only the paths and the date replaced.
"""

from __future__ import annotations

import json
import logging

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import PythonOperator

# The run date is the day the run starts in the campaign's timezone (the end
# of Airflow's data interval), so a backfill of an old interval reruns that
# day. siap exits 7 when it published with warnings: success for Airflow.
RUN_COMMAND = (
    "siap run /etc/siap/pipelines/harbolnas.toml"
    " --work-dir /var/lib/siap/harbolnas"
    " --date {{ data_interval_end.in_timezone('Asia/Jakarta') | ds }}"
    " --summary json --log-format json"
    "; rc=$?; if [ $rc -eq 7 ]; then exit 0; fi; exit $rc"
)

# What changed against the run before (exit 8 when a product flipped).
DIFF_COMMAND = (
    "siap diff /etc/siap/pipelines/harbolnas.toml"
    " --work-dir /var/lib/siap/harbolnas --json"
)


def read_summary(xcom: str) -> dict:
    """The run summary: the last line siap wrote on stdout."""
    last = [line for line in xcom.strip().splitlines() if line.strip()][-1]
    return json.loads(last)


def report(ti=None, **_):
    summary = read_summary(ti.xcom_pull(task_ids="siap_run"))
    with open(summary["manifest"], encoding="utf-8") as f:
        manifest = json.load(f)
    logging.info(
        "%s for %s: %s, %d READY, %d NOT_READY, %d rejected rows, %s product(s) changed",
        summary["campaign"],
        summary["run_date"],
        summary["status"],
        summary["ready"],
        summary["not_ready"],
        summary["rejected"],
        summary.get("changed", "no earlier run:"),
    )
    for source in manifest["sources"]:
        logging.info(
            "source %s: %d read, %d rejected",
            source["id"],
            source["records_read"],
            source["rejected"],
        )
    return summary


with DAG(
    dag_id="siap_harbolnas",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Jakarta"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
    tags=["siap"],
) as dag:
    run = BashOperator(
        task_id="siap_run",
        bash_command=RUN_COMMAND,
        do_xcom_push=True,
        # siap never exits 99; nothing here is a "skip".
        skip_on_exit_code=None,
    )
    summarise = PythonOperator(task_id="report", python_callable=report)
    run >> summarise
