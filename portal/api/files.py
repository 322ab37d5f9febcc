"""API: upload a file to a programme's data inbox."""

from __future__ import annotations

from flask_login import login_required

from portal import access
from portal.access import programme_access
from portal.api import bp
from portal.authoring.views import upload_via_api


@bp.route("/programmes/<code>/files", methods=["POST"])
@login_required
@programme_access(access.UPLOAD)
def upload_file(programme):
    """Store a CSV, TSV, Darwin Core Archive or Frictionless package (multipart ``file``)."""
    return upload_via_api(programme)
