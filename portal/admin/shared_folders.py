"""Admin pages for shared folders: create one, grant it to programmes, revoke grants.

Thin views over ``portal.services.shared_folders`` (which checks admin rights again
and audits every change).
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.access import admin_required
from portal.admin import bp
from portal.extensions import db
from portal.models import MonitoringProgramme
from portal.services import DomainError, NotFound
from portal.services import shared_folders as service


class SharedFolderForm(FlaskForm):
    """Create a shared folder."""

    name = StringField("Name", validators=[DataRequired(), Length(max=64)],
                       description="Pipelines name it as shared:<name>/<path>.")
    path = StringField("Folder", validators=[DataRequired(), Length(max=500)],
                       description="Relative to DATA_ROOT; never a programme's own folder.")
    description = TextAreaField("Description", validators=[Length(max=2000)])


class GrantForm(FlaskForm):
    """Grant a shared folder to a programme, or revoke it."""

    programme = SelectField("Programme", validators=[DataRequired()])


def _programme_codes() -> list[str]:
    return list(db.session.scalars(select(MonitoringProgramme.code)
                                   .order_by(MonitoringProgramme.code)))


def _render(form: SharedFolderForm, status: int = 200):
    codes = _programme_codes()
    folders = service.list_folders()
    return render_template("admin/shared_folders.html", form=form, folders=folders,
                           codes=codes, grant_form=GrantForm()), status


@bp.route("/shared-folders", methods=["GET", "POST"])
@login_required
@admin_required
def shared_folders():
    """List shared folders and their grants; create one."""
    form = SharedFolderForm()
    if form.validate_on_submit():
        try:
            folder = service.create_folder(current_user, form.name.data, form.path.data,
                                           form.description.data or "",
                                           request_id=g.get("request_id"))
        except DomainError as error:
            target = getattr(form, error.field or "", None)
            if target is not None:
                target.errors = [*target.errors, error.message]
            else:
                flash(error.message, "error")
            return _render(form, 400)
        flash(f"Shared folder {folder.name} created.", "success")
        return redirect(url_for("admin.shared_folders"))
    return _render(form, 400 if form.is_submitted() else 200)


def _change_grant(name: str, change) -> object:
    form = GrantForm()
    form.programme.choices = _programme_codes()
    try:
        folder = service.get_folder(name)
    except NotFound:
        abort(404)
    if not form.validate_on_submit():
        flash("Choose a programme.", "error")
        return redirect(url_for("admin.shared_folders"))
    programme = db.session.scalar(select(MonitoringProgramme)
                                  .where(MonitoringProgramme.code == form.programme.data))
    try:
        change(current_user, folder, programme, request_id=g.get("request_id"))
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.shared_folders"))
    verb = "granted to" if change is service.grant else "revoked from"
    flash(f"{folder.name} {verb} {programme.code}.", "success")
    return redirect(url_for("admin.shared_folders"))


@bp.route("/shared-folders/<name>/grant", methods=["POST"])
@login_required
@admin_required
def grant_shared_folder(name: str):
    """Grant a shared folder to a programme (audited)."""
    return _change_grant(name, service.grant)


@bp.route("/shared-folders/<name>/revoke", methods=["POST"])
@login_required
@admin_required
def revoke_shared_folder(name: str):
    """Revoke a shared folder from a programme (audited); its next run fails if it names it."""
    return _change_grant(name, service.revoke)


