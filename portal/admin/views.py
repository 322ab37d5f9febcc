"""Admin views: thin wrappers around portal.services.users."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from portal.access import admin_required
from portal.admin import bp
from portal.admin.forms import ActiveForm, InstitutionForm, MembershipForm, UserForm
from portal.extensions import db
from portal.models import Institution, User
from portal.services import DomainError
from portal.services import sessions as session_service
from portal.services import users as user_service
from portal.services.queries import page_number
from portal.services.user_list import list_users


def _apply_error(form, error: DomainError) -> None:
    for one in getattr(error, "errors", [error]):  # FieldErrors: every field at fault
        field = getattr(form, one.field, None) if one.field else None
        if field is not None:
            field.errors = [*field.errors, one.message]
        else:
            flash(one.message, "error")


def _submitted(form, name: str) -> bool:
    """Whether this POST was for ``form`` (pages with several forms name each one)."""
    return request.method == "POST" and request.form.get("form") == name and form.validate()


@bp.route("/users", methods=["GET", "POST"])
@login_required
@admin_required
def users():
    """List users; create one."""
    form = UserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = user_service.create_user(form.email.data, form.name.data, form.password.data,
                                            is_admin=form.is_admin.data, actor=current_user)
        except DomainError as error:
            _apply_error(form, error)
            status = 400
        else:
            flash(f"User {user.email} created.", "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 400
        # Every field's error in one round: the service's checks too, on fields not flagged.
        for problem in user_service.user_problems(form.email.data or "", form.name.data or "",
                                                  form.password.data or ""):
            field = getattr(form, problem.field or "", None)
            if field is not None and not field.errors:
                field.errors = [*field.errors, problem.message]
    search = {"q": (request.args.get("q") or "").strip()[:100],
              "status": (request.args.get("status") or "")[:20]}
    result = list_users(search["q"], status=search["status"],
                        page=page_number(request.args.get("page")))
    return render_template("admin/users.html", users=result.items, result=result,
                           search={k: v for k, v in search.items() if v}, form=form), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@login_required
@admin_required
def user_detail(user_id: int):
    """One user: memberships and activation."""
    user = db.session.get(User, user_id) or abort(404)
    institutions = db.session.scalars(select(Institution).order_by(Institution.name)).all()
    membership = MembershipForm(prefix="m")
    membership.institution.choices = [SelectChoice(i.id, i.name) for i in institutions]
    active = ActiveForm(prefix="a", active="1" if user.active else "0")
    try:
        if _submitted(membership, "membership"):
            institution = db.session.get(Institution, membership.institution.data) or abort(404)
            user_service.set_membership(user, institution, membership.action.data == "add",
                                        actor=current_user)
            flash("Membership updated.", "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
        if _submitted(active, "active"):
            user_service.set_active(user, active.active.data == "1", actor=current_user)
            flash("Account updated.", "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    except DomainError as error:
        flash(error.message, "error")
    return render_template("admin/user_detail.html", user=user, membership=membership,
                           active=active)


@bp.route("/users/<int:user_id>/force-password-reset", methods=["POST"])
@login_required
@admin_required
def force_password_reset(user_id: int):
    """Sign the user out everywhere and make them choose a new password at next sign-in."""
    user = db.session.get(User, user_id) or abort(404)
    try:
        session_service.force_password_reset(user, actor=current_user)
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(f"{user.email} is signed out everywhere and must choose a new password at "
              "their next sign-in.", "success")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/institutions", methods=["GET", "POST"])
@login_required
@admin_required
def institutions():
    """List institutions; create one."""
    form = InstitutionForm()
    status = 200
    if form.validate_on_submit():
        try:
            user_service.create_institution(form.name.data, form.code.data, actor=current_user)
        except DomainError as error:
            _apply_error(form, error)
            status = 400
        else:
            flash("Institution created.", "success")
            return redirect(url_for("admin.institutions"))
    elif form.is_submitted():
        status = 400
    rows = db.session.scalars(
        select(Institution).options(selectinload(Institution.members)).order_by(Institution.name)
    ).all()
    return render_template("admin/institutions.html", institutions=rows, form=form), status
