"""Programme actions: Run now (confirmed), Dry run, and release file downloads."""

from __future__ import annotations

from flask import current_app, flash, g, render_template, send_file, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.programmes import bp
from portal.programmes.common import go_to, not_started
from portal.services import DomainError
from portal.services.releases import release_file


def _start(programme, *, dry_run: bool):
    from portal.services.runs import queue_run

    try:
        result = queue_run(programme, current_user, run_type="full", dry_run=dry_run,
                           trigger="manual", request_id=g.request_id)
    except DomainError as error:
        return not_started(error, url_for("programmes.detail", code=programme.code))
    what = "Dry run" if dry_run else "Run"
    if result.dispatched:
        flash(f"{what} queued.", "run")  # shown by runs/_live.html while the run is active
    else:
        flash(f"{what} queued; dispatch delayed (the queue is unreachable, it will be "
              "dispatched automatically).", "warning")
    return go_to(url_for("runs.detail", run_uuid=result.run.uuid))


@bp.route("/programmes/<code>/run", methods=["GET"])
@login_required
@programme_access(access.RUN)
def confirm_run(programme):
    """Ask for confirmation before a full run (the no-JavaScript path)."""
    return render_template("programmes/confirm_run.html", programme=programme)


@bp.route("/programmes/<code>/run", methods=["POST"])
@login_required
@programme_access(access.RUN)
def run_now(programme):
    """Queue a full run and go to its page."""
    return _start(programme, dry_run=False)


@bp.route("/programmes/<code>/dry-run", methods=["POST"])
@login_required
@programme_access(access.RUN)
def dry_run(programme):
    """Queue a dry run (nothing published, no alerts, schedule untouched)."""
    return _start(programme, dry_run=True)


@bp.route("/programmes/<code>/releases/<path:release_path>")
@login_required
@programme_access(access.VIEW)
def release_download(programme, release_path: str):
    """Download one file of a published release (path-safe, access-checked)."""
    path = release_file(current_app.config["PUBLISH_ROOT"], programme.code, release_path)
    return send_file(path, as_attachment=True, download_name=path.name)
