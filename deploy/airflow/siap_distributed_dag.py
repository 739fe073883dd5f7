"""siap's distributed path under Apache Airflow (2.6+ and 3.x), with dynamic
task mapping: one `siap stage` task per feed of the plan.

    plan -> feeds -> stage (mapped, one per feed) -> resolve -> finish

- `plan` runs `siap plan` with the DAG run's id as the run id (so a retried
  plan gives its plan back) and pushes the plan (JSON) to XCom.
- `feeds` turns the plan into the list of stage commands.
- `stage` is mapped over that list: Airflow runs as many at once as its
  pool allows, anywhere; a retried task writes the same bytes, or fails
  (exit 6) when its feed changed since the first try.
- `resolve` runs the keyed rules on a Ballista cluster
  (deploy/kubernetes/ballista.yaml), `finish` publishes and swaps
  `latest`, its summary line to XCom; exit 7 (published with warnings)
  counts as success, and a retried `finish` is safe.

Every task must see the same work directory: a shared volume, or a
bucket (replace `/var/lib/siap/harbolnas` with `s3://bucket/prefix`, and
give the workers and the Ballista cluster the AWS_* environment). The
command lines are plain strings
so tests/cli/deploy.rs runs them as written, with the paths replaced.
"""

from __future__ import annotations

import json

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import PythonOperator

# The DAG run's id, made a safe file name, is siap's run id; the run date
# is the day the run starts in the campaign's timezone (as siap_dag.py).
PLAN_COMMAND = (
    "siap plan /etc/siap/pipelines/harbolnas.toml"
    " --work-dir /var/lib/siap/harbolnas"
    " --run {{ run_id | replace(':', '-') | replace('+', '-') }}"
    " --date {{ data_interval_end.in_timezone('Asia/Jakarta') | ds }}"
    " --log-format json"
)

# Formatted per feed with the plan's run id and the feed's source id.
STAGE_COMMAND = (
    "siap stage /etc/siap/pipelines/harbolnas.toml"
    " --work-dir /var/lib/siap/harbolnas"
    " --run {run} --source {source} --log-format json"
)

RESOLVE_COMMAND = (
    "siap resolve --work-dir /var/lib/siap/harbolnas"
    " --run {{ run_id | replace(':', '-') | replace('+', '-') }}"
    " --engine df://siap-ballista-scheduler:50050 --partitions 8"
    " --log-format json"
)

# Exit 7 (published, with warnings) is a success for Airflow. The summary
# line goes to XCom, as `siap run`'s does; a retried finish whose run was
# already published reports it again and exits 0.
FINISH_COMMAND = (
    "siap finish /etc/siap/pipelines/harbolnas.toml"
    " --work-dir /var/lib/siap/harbolnas"
    " --run {{ run_id | replace(':', '-') | replace('+', '-') }}"
    " --summary json --log-format json"
    "; rc=$?; if [ $rc -eq 7 ]; then exit 0; fi; exit $rc"
)


def stage_commands(plan_json: str) -> list[str]:
    """One `siap stage` command per feed of the plan (stdout of `plan`)."""
    plan = json.loads(plan_json)
    return [
        STAGE_COMMAND.format(run=plan["run_id"], source=feed["id"])
        for feed in plan["feeds"]
    ]


def feeds(ti=None, **_):
    return stage_commands(ti.xcom_pull(task_ids="plan"))


with DAG(
    dag_id="siap_harbolnas_distributed",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Jakarta"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    tags=["siap"],
) as dag:
    plan = BashOperator(task_id="plan", bash_command=PLAN_COMMAND, do_xcom_push=True)
    commands = PythonOperator(task_id="feeds", python_callable=feeds)
    stage = BashOperator.partial(task_id="stage", max_active_tis_per_dag=8).expand(
        bash_command=commands.output
    )
    resolve = BashOperator(task_id="resolve", bash_command=RESOLVE_COMMAND)
    finish = BashOperator(task_id="finish", bash_command=FINISH_COMMAND)
    plan >> commands >> stage >> resolve >> finish
