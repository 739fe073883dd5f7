"""Nightly siap readiness run as a Dagster job with a schedule.

Load it with `dagster dev -f siap_job.py` (or add `defs` to a code
location) on a machine with `siap` installed. The op runs `siap run ...
--summary json`, streams siap's stderr into Dagster's log, reads the
summary line from stdout and the run's manifest, and yields them as
metadata. Exit 0 and 7 (published, with warnings) succeed; any other code
raises `Failure` with siap's own message.

The command line is a plain string so a test can run it as written
(tests/cli/deploy.rs), with only the paths and the date replaced.
"""

# No `from __future__ import annotations`: Dagster reads the op's
# annotations (the config class) at definition time.
import json
import shlex
import subprocess

from dagster import (
    Config,
    Definitions,
    Failure,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    ScheduleEvaluationContext,
    job,
    op,
    schedule,
)

RUN_COMMAND = (
    "siap run /etc/siap/pipelines/harbolnas.toml"
    " --work-dir /var/lib/siap/harbolnas"
    " --date {date}"
    " --summary json --log-format json"
)

PUBLISHED = (0, 7)


class RunConfig(Config):
    # YYYY-MM-DD, the day in the campaign's timezone.
    date: str


@op
def siap_run(context: OpExecutionContext, config: RunConfig) -> dict:
    command = shlex.split(RUN_COMMAND.format(date=config.date))
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in proc.stderr.splitlines():
        context.log.info(line)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = json.loads(lines[-1]) if lines else {}
    if proc.returncode not in PUBLISHED:
        raise Failure(
            description=summary.get("error", f"siap exited {proc.returncode}"),
            metadata={"exit_code": proc.returncode, "summary": MetadataValue.json(summary)},
        )
    with open(summary["manifest"], encoding="utf-8") as f:
        manifest = json.load(f)
    context.add_output_metadata(
        {
            "status": summary["status"],
            "ready": summary["ready"],
            "not_ready": summary["not_ready"],
            "rejected": summary["rejected"],
            "sources": MetadataValue.json(
                {s["id"]: s["records_read"] for s in manifest["sources"]}
            ),
        }
    )
    return summary


@job
def siap_harbolnas():
    siap_run()


@schedule(job=siap_harbolnas, cron_schedule="30 2 * * *", execution_timezone="Asia/Jakarta")
def nightly(context: ScheduleEvaluationContext):
    date = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return RunRequest(
        run_key=date,
        run_config={"ops": {"siap_run": {"config": {"date": date}}}},
    )


defs = Definitions(jobs=[siap_harbolnas], schedules=[nightly])
