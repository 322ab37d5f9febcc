"""Programme list and detail views (thin: parse, call a service, render)."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.programmes import bp
from portal.services.programmes import list_programmes, programme_overview


@bp.route("/")
@login_required
def index():
    """The programmes the user may see, searchable and paginated."""
    search = request.args.get("q", "")
    page = request.args.get("page", 1, type=int)
    result = list_programmes(current_user, search=search, page=page,
                             per_page=current_app.config["PAGE_SIZE"])
    return render_template("programmes/index.html", result=result, search=search)


@bp.route("/programmes/<code>")
@login_required
@programme_access(access.VIEW)
def detail(programme):
    """A programme's summary, stewards, pipeline, rules, recent runs and open alerts."""
    overview = programme_overview(programme)
    return render_template(
        "programmes/detail.html",
        programme=programme,
        can_run=access.can(current_user, access.RUN, programme),
        can_edit=access.can(current_user, access.EDIT, programme),
        **overview,
    )
