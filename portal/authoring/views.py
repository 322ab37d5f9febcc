"""Create, clone and archive programmes; the data inbox; the reference docs."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, flash, g, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from portal import access
from portal.access import programme_access
from portal.authoring import bp
from portal.authoring.forms import ProgrammeForm, UploadForm
from portal.extensions import db
from portal.models import Institution
from portal.programmes.common import apply_error, go_to
from portal.services import DomainError
from portal.services import authoring as service
from portal.services.reference import reference_entries
from portal.services.safezip import ZipLimits
from portal.services.uploads import list_uploads, store_upload


def _require_creator() -> None:
    if not access.can_create_programme(current_user):
        raise access.ActionForbidden("create")


def _programme_form(**defaults) -> ProgrammeForm:
    form = ProgrammeForm(**defaults)
    allowed = access.creatable_institution_ids(current_user)
    form.institutions.choices = [
        SelectChoice(i.id, i.name) for i in db.session.scalars(
            select(Institution).where(Institution.id.in_(allowed)).order_by(Institution.name))
    ]
    return form


def _spec(form: ProgrammeForm) -> service.NewProgramme:
    return service.NewProgramme(
        code=form.code.data or "", title=form.title.data or "",
        description=form.description.data or "", timezone=(form.timezone.data or "").strip(),
        refresh_cadence=(form.refresh_cadence.data or "").strip(),
        scheduler_enabled=bool(form.scheduler_enabled.data),
        institution_ids=list(form.institutions.data or []), stewards=form.steward_lines())


def _submit(form: ProgrammeForm, create):
    """Validate the form and call ``create(spec)``; return (programme, status).

    Every field's error is shown in one round: when the form's own checks fail, the
    service's checks still run and add their errors to the fields not yet flagged.
    """
    if not form.is_submitted():
        return None, 200
    valid = form.validate()
    try:
        spec = _spec(form)
    except ValueError as error:
        form.stewards.errors = [*form.stewards.errors, str(error)]
        spec, valid = None, False
    if not valid:
        if spec is not None:
            for problem in service.programme_problems(spec, current_user):
                apply_error(form, problem, unless_flagged=True)
        return None, 400
    try:
        return create(spec), 201
    except DomainError as error:
        if not apply_error(form, error):
            flash(error.message, "error")
        return None, error.status if error.status != 404 else 400


@bp.route("/programmes/new", methods=["GET", "POST"])
@login_required
def new_programme():
    """Create a programme (admins and programme owners)."""
    _require_creator()
    form = _programme_form()
    programme, status = _submit(
        form, lambda spec: service.create_programme(spec, current_user,
                                                    request_id=g.request_id))
    if programme is not None:
        flash(f"Programme {programme.code} created. Add its pipeline and rules next.", "success")
        return go_to(url_for("authoring.edit_pipeline", code=programme.code))
    return render_template("authoring/new.html", form=form, source=None), status


@bp.route("/programmes/<code>/clone", methods=["GET", "POST"])
@login_required
@programme_access(access.VIEW)
def clone_programme(programme):
    """Start a new programme from this one's pipeline, rules and notes."""
    _require_creator()
    form = _programme_form(title=f"{programme.title} (copy)", timezone=programme.timezone,
                           refresh_cadence=programme.refresh_cadence)
    created, status = _submit(
        form, lambda spec: service.clone_programme(programme, spec, current_user,
                                                   request_id=g.request_id))
    if created is not None:
        flash(f"Programme {created.code} created from {programme.code}.", "success")
        return go_to(url_for("programmes.detail", code=created.code))
    return render_template("authoring/new.html", form=form, source=programme), status


@bp.route("/programmes/<code>/archive", methods=["POST"])
@login_required
@programme_access(access.MANAGE_STEWARDS)
def archive_programme(programme):
    """Archive a programme: out of the scheduler and the default lists; history kept."""
    restore = request.form.get("restore") == "1"
    try:
        service.set_archived(programme, not restore, current_user, request_id=g.request_id)
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(f"{programme.code} {'restored' if restore else 'archived'}.", "success")
    return go_to(url_for("programmes.detail", code=programme.code))


def _store(programme, storage):
    data = storage.read(current_app.config["MAX_UPLOAD_BYTES"] + 1)
    return store_upload(programme, current_user, storage.filename or "upload", data,
                        data_root=Path(current_app.config["DATA_ROOT"]),
                        max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
                        zip_limits=ZipLimits.from_config(current_app.config),
                        request_id=g.request_id)


@bp.route("/programmes/<code>/inbox", methods=["GET"])
@login_required
@programme_access(access.VIEW)
def inbox(programme):
    """The programme's uploaded files, newest first."""
    return render_template("authoring/inbox.html", programme=programme, form=UploadForm(),
                           uploads=list_uploads(programme),
                           can_upload=access.can(current_user, access.UPLOAD, programme))


@bp.route("/programmes/<code>/inbox", methods=["POST"])
@login_required
@programme_access(access.UPLOAD)
def upload(programme):
    """Upload a file through the browser."""
    form = UploadForm()
    status = 400
    if form.validate_on_submit():
        try:
            stored = _store(programme, form.file.data)
        except DomainError as error:
            form.file.errors = [*form.file.errors, error.message]
        else:
            flash(f"{stored.original_name} received ({stored.bytes:,} bytes, {stored.kind}, "
                  f"sha256 {stored.sha256[:12]}…).", "success")
            return go_to(url_for("authoring.inbox", code=programme.code))
    return render_template("authoring/inbox.html", programme=programme, form=form,
                           uploads=list_uploads(programme), can_upload=True), status


def upload_via_api(programme):
    """POST /api/v1/programmes/<code>/files (registered on the API blueprint)."""
    storage = request.files.get("file")
    if storage is None:
        return jsonify(error="bad_request", field="file",
                       message="Send the file as multipart form field 'file'."), 400
    stored = _store(programme, storage)
    return jsonify(uuid=stored.uuid, name=stored.original_name, kind=stored.kind,
                   bytes=stored.bytes, sha256=stored.sha256, stored_path=stored.stored_path,
                   uploaded_at=stored.uploaded_at.isoformat(),
                   summary=stored.summary_json), 201


@bp.route("/docs")
@login_required
def reference():
    """Every step type and rule type with its parameters and an example."""
    entries = reference_entries()
    return render_template("authoring/reference.html",
                           steps=[e for e in entries if e.kind == "step"],
                           rules=[e for e in entries if e.kind == "rule"])
