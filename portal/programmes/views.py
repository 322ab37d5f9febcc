"""Programme pages: the scoped list, the detail page, the edit form and steward management.

Views are thin: parse, call one service, map a domain error to a response, render.
"""

from __future__ import annotations

import json

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.models import NAMED_CADENCES, RUN_STATUSES
from portal.programmes import bp
from portal.programmes.common import apply_error, page_or_fragment
from portal.programmes.forms import DeactivateStewardForm, ProgrammeForm, StewardForm
from portal.programmes.releases import release_review_context
from portal.services import DomainError
from portal.services import programme_edit as edit_service
from portal.services.queries import (
    ProgrammeFilters,
    list_programmes,
    page_number,
    programme_detail,
    programme_stewards,
)
from portal.services.releases import list_releases
from portal.services.runs import run_refusal

FORM_FIELDS = {"pipeline_definition_json": "pipeline_definition",
               "data_quality_rules_json": "data_quality_rules"}


@bp.route("/")
@login_required
def index():
    """The programmes the user may see: search as you type, filters, pages."""
    filters = ProgrammeFilters.from_args(request.args)
    result = list_programmes(current_user, filters, page=page_number(request.args.get("page")),
                             per_page=current_app.config["PAGE_SIZE"])
    return page_or_fragment("programmes/index.html", "programmes/_results.html",
                            result=result, filters=filters,
                            cadences=[(c, c) for c in NAMED_CADENCES] + [("cron", "cron")],
                            statuses=[("never", "never run")] + [(s, s) for s in RUN_STATUSES])


@bp.route("/programmes/<code>")
@login_required
@programme_access(access.VIEW)
def detail(programme):
    """Summary, stewards, pipeline and rules, recent runs, open alerts, releases."""
    refusal = run_refusal(programme)  # archived: nobody may run it, whatever their role
    releases = list_releases(current_app.config["PUBLISH_ROOT"], programme.code)
    return render_template(
        "programmes/detail.html", programme=programme, releases=releases,
        can_run=access.can(current_user, access.RUN, programme) and not refusal,
        can_edit=access.can(current_user, access.EDIT, programme),
        can_manage=access.can(current_user, access.MANAGE_STEWARDS, programme),
        run_reason=refusal or access.ACTION_EXPLANATIONS[access.RUN],
        **programme_detail(programme),
        **release_review_context(programme, releases),
    )


def _edit_form(programme) -> ProgrammeForm:
    form = ProgrammeForm()
    if request.method == "GET":
        form.process(obj=programme, pipeline_definition=json.dumps(
            programme.pipeline_definition_json, indent=2),
            data_quality_rules=json.dumps(programme.data_quality_rules_json, indent=2))
    return form


@bp.route("/programmes/<code>/edit", methods=["GET", "POST"])
@login_required
@programme_access(access.EDIT)
def edit(programme):
    """Edit cadence, time zone, pipeline, rules and notes; every change is audited."""
    form = _edit_form(programme)
    status = 200
    if form.validate_on_submit():
        changes = edit_service.ProgrammeChanges(
            title=form.title.data or "", description=form.description.data or "",
            refresh_cadence=form.refresh_cadence.data or "", timezone=form.timezone.data or "",
            scheduler_enabled=bool(form.scheduler_enabled.data),
            pipeline_definition=form.pipeline_definition.data or "",
            data_quality_rules=form.data_quality_rules.data or "",
            lineage_notes=form.lineage_notes.data or "",
            # A client that does not send the field leaves the licence as it is.
            licence=(form.licence.data or "") if form.licence.raw_data else None,
            max_attempts=(form.max_attempts.data or "") if form.max_attempts.raw_data else None)
        try:
            diff = edit_service.update_programme(programme, current_user, changes,
                                                 request_id=g.request_id)
        except edit_service.ValidationFailed as failed:
            for name, messages in failed.errors.items():
                getattr(form, FORM_FIELDS.get(name, name)).errors = list(messages)
            status = 400
        else:
            flash(f"Saved: {', '.join(diff)}." if diff else "Nothing changed.", "success")
            return redirect(url_for("programmes.detail", code=programme.code))
    elif form.is_submitted():
        status = 400
    return render_template("programmes/edit.html", programme=programme, form=form), status


@bp.route("/programmes/<code>/stewards", methods=["GET", "POST"])
@login_required
@programme_access(access.MANAGE_STEWARDS)
def stewards(programme):
    """Add a steward by e-mail with a role, or deactivate an assignment."""
    # CSRFProtect already checks every POST; two forms on one page share its one token.
    add_form = StewardForm(prefix="add", meta={"csrf": False})
    remove_form = DeactivateStewardForm(prefix="remove", meta={"csrf": False})
    status = 200
    if request.method == "POST":
        status = 400
        try:
            if request.form.get("form") == "add" and add_form.validate():
                edit_service.add_steward(programme, current_user, add_form.email.data,
                                         add_form.role.data, request_id=g.request_id)
                flash(f"{add_form.email.data} is now {add_form.role.data}.", "success")
                return redirect(url_for("programmes.stewards", code=programme.code))
            if request.form.get("form") == "remove" and remove_form.validate():
                assignment = edit_service.deactivate_steward(
                    programme, current_user, int(remove_form.steward_id.data),
                    request_id=g.request_id)
                flash(f"{assignment.user.email} is no longer {assignment.role}.", "success")
                return redirect(url_for("programmes.stewards", code=programme.code))
            if request.form.get("form") not in ("add", "remove"):
                flash("Choose what to do: add a steward or deactivate one.", "error")
        except (DomainError, ValueError) as error:
            if not isinstance(error, DomainError) or not apply_error(add_form, error):
                flash(getattr(error, "message", "That assignment does not exist."), "error")
            status = getattr(error, "status", 400)
    return render_template("programmes/stewards.html", programme=programme, add_form=add_form,
                           remove_form=remove_form,
                           stewards=programme_stewards(programme)), status
