"""``flask jobs`` (worker, scheduler) and ``flask ops`` (run-due, reconcile, list, run, replay).

Registered through the ``flask.commands`` entry point, so the portal never imports
``jobs``. Every command runs inside the app context Flask's CLI provides.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from portal.redact import mask_secrets

jobs_cli = AppGroup("jobs", help="Run RQ workers and the scheduler.")
ops_cli = AppGroup("ops", help="Operate programmes from cron or CI.")


def _startup_line(process: str) -> None:
    """Say where this process connects, passwords masked (operators read it in logs)."""
    from portal.redact import describe_connections

    click.echo(f"{process}: {describe_connections(current_app.config)}")


@jobs_cli.command("worker")
@click.option("--queues", default="high,default", show_default=True,
              help="Comma-separated queues, highest priority first.")
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default host.pid.random).")
def worker_command(queues: str, burst: bool, name: str | None) -> None:
    """Run an RQ worker (forking; one work horse per job)."""
    from jobs.worker import run_worker

    names = [queue.strip() for queue in queues.split(",") if queue.strip()]
    _startup_line("worker")
    run_worker(current_app._get_current_object(), names, burst=burst, name=name)


@jobs_cli.command("scheduler")
@click.option("--burst", is_flag=True, help="Enqueue what is due once and quit.")
def scheduler_command(burst: bool) -> None:
    """Run the scheduler loop: the due scan and the reconciler on every tick."""
    from jobs.scheduler import run_scheduler

    _startup_line("scheduler")
    run_scheduler(current_app._get_current_object(), burst=burst)


@ops_cli.command("run-due")
def run_due_command() -> None:
    """Start runs for every programme whose cadence fell due (once, now)."""
    from portal.services.periodic import dispatch_tick

    summary = dispatch_tick()  # also records the tick, for cron set-ups without a scheduler
    click.echo(f"due: {summary['due']}  created: {summary['created']}  "
               f"deferred (active run): {summary['deferred']}  raced: {summary['raced']}  "
               f"dispatch delayed: {summary['dispatch_delayed']}")


@ops_cli.command("reconcile")
def reconcile_command() -> None:
    """Re-dispatch queued runs Redis lost; fail runs whose worker was lost."""
    from portal.services.periodic import reconcile_tick

    summary = reconcile_tick()  # also records the tick, for cron set-ups without a scheduler
    click.echo(f"re-dispatched: {summary['redispatched']}  worker lost: {summary['lost']}  "
               f"failed in RQ: {summary['failed_in_rq']}  cancelled: {summary['cancelled']}  "
               f"retried: {summary['retried']}")
    if summary["redis_error"]:
        click.echo(f"warning: {summary['redis_error']}", err=True)


@ops_cli.command("list")
def list_command() -> None:
    """List programmes: code, cadence, next run, latest run status."""
    from portal.extensions import db
    from portal.models import MonitoringProgramme, MonitoringProgrammeRun

    programmes = db.session.scalars(select(MonitoringProgramme)
                                    .order_by(MonitoringProgramme.code)).all()
    click.echo(f"{'CODE':<20} {'CADENCE':<16} {'NEXT RUN (UTC)':<20} LATEST")
    for programme in programmes:
        latest = db.session.scalar(
            select(MonitoringProgrammeRun)
            .where(MonitoringProgrammeRun.programme_id == programme.id)
            .order_by(MonitoringProgrammeRun.queued_at.desc(), MonitoringProgrammeRun.id.desc())
            .limit(1))
        next_run = programme.next_run_at.strftime("%Y-%m-%d %H:%M") \
            if programme.next_run_at and programme.scheduler_enabled else "-"
        status = f"{latest.status} ({latest.uuid[:8]})" if latest else "never run"
        click.echo(f"{programme.code:<20} {programme.refresh_cadence:<16} {next_run:<20} {status}")


@ops_cli.command("run")
@click.argument("code")
@click.option("--dry-run", is_flag=True, help="Execute with no side effects.")
@click.option("--type", "run_type", default="full", show_default=True,
              type=click.Choice(["full", "ingest", "validate", "compute", "publish"]))
@click.option("--wait", is_flag=True, help="Wait for the run to finish; exit 0 only if it "
              "succeeded.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
def run_command(code: str, dry_run: bool, run_type: str, wait: bool, timeout: float) -> None:
    """Queue a run of programme CODE (trigger: integration) and print its id."""
    from portal.extensions import db
    from portal.models import FINAL_STATUSES, MonitoringProgramme
    from portal.services import DomainError
    from portal.services.runs import get_run, queue_run

    programme = db.session.scalar(select(MonitoringProgramme)
                                  .where(MonitoringProgramme.code == code))
    if programme is None:
        raise click.ClickException(f"no programme with code {code!r}")
    try:
        result = queue_run(programme, None, run_type=run_type, dry_run=dry_run,
                           trigger="integration")
    except DomainError as error:
        raise click.ClickException(
            mask_secrets(f"{error.field or 'error'}: {error.message}")) from error
    run_id = result.run.id
    click.echo(f"run {result.run.uuid} {result.message}")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while True:
        run = get_run(run_id)
        db.session.rollback()
        if run is not None and run.status in FINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            click.echo(f"run {result.run.uuid} still {run.status if run else '?'} "
                       f"after {timeout:g} s", err=True)
            sys.exit(2)
        time.sleep(0.2)
    click.echo(f"run {run.uuid} {run.status}"
               + (f": {mask_secrets(run.error_message)}" if run.error_message else ""))
    if run.status != "succeeded":
        sys.exit(1)


@ops_cli.command("replay")
@click.argument("run_id")
@click.option("--sandbox", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the replay's outputs (default: a temporary folder).")
def replay_command(run_id: str, sandbox: Path | None) -> None:
    """Replay a recorded run from its stored inputs and compare every fingerprint."""
    from jobs.replay import replay
    from portal.extensions import db
    from portal.models import MonitoringProgrammeRun
    from portal.services.safezip import ZipLimits
    from portal.services.shared_folders import granted_folders, namespace
    column = MonitoringProgrammeRun.id if run_id.isdigit() else MonitoringProgrammeRun.uuid
    run = db.session.scalar(select(MonitoringProgrammeRun)
                            .where(column == (int(run_id) if run_id.isdigit() else run_id)))
    if run is None:
        raise click.ClickException(f"no run {run_id}")
    if not run.lineage_json:
        raise click.ClickException(f"run {run.uuid} has no lineage record to replay")
    sandbox = sandbox or Path(tempfile.mkdtemp(prefix=f"replay-{run.uuid[:8]}-"))
    executed = run.input_summary_json or {}
    report = replay(executed.get("definition") or run.programme.pipeline_definition_json,
                    executed.get("rules") or run.programme.data_quality_rules_json,
                    run.lineage_json,
                    data_root=namespace(current_app.config["DATA_ROOT"], run.programme.code),
                    store_root=Path(current_app.config["LINEAGE_STORE"]),
                    sandbox_dir=sandbox, programme_code=run.programme.code,
                    now=run.started_at,
                    shared_folders=granted_folders(run.programme_id,
                                                   current_app.config["DATA_ROOT"]),
                    zip_limits=ZipLimits.from_config(current_app.config))
    click.echo(json.dumps(report, indent=2, default=str))
    click.echo(f"replay of run {run.uuid}: "
               + ("identical" if report.get("identical") else "DIFFERENT"))
    if not report.get("identical"):
        sys.exit(1)


# Further `flask ops` commands: export/apply (programmes as code), rerun/cleanup-work.
from jobs import ops_documents, ops_runs  # noqa: E402,F401
