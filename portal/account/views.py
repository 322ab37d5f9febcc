"""API token views: create (the secret is shown once) and revoke."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from portal.account import bp
from portal.auth.tokens import create_token, revoke_token
from portal.extensions import db
from portal.models import ApiToken
from portal.programmes.common import apply_error
from portal.services import DomainError


class TokenForm(FlaskForm):
    """Name a new token."""

    name = StringField("Token name", validators=[DataRequired(), Length(max=100)],
                       description="What will use it, e.g. 'CI pipeline'")


class RevokeForm(FlaskForm):
    """Revoke a token (CSRF only)."""


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """List the user's tokens; create one."""
    form = TokenForm()
    status, secret = 200, None
    if form.validate_on_submit():
        try:
            token, secret = create_token(current_user, form.name.data)
        except DomainError as error:
            apply_error(form, error)
            status = 400
        else:
            flash(f"Token “{token.name}” created. Copy it now: it is not shown again.",
                  "success")
            form = TokenForm(formdata=None)
    elif form.is_submitted():
        status = 400
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                              .order_by(ApiToken.revoked_at.is_not(None),
                                        ApiToken.created_at.desc())).all()
    return render_template("account/tokens.html", form=form, tokens=rows, secret=secret,
                           revoke_form=RevokeForm()), status


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int):
    """Revoke one of the user's own tokens."""
    revoke_token(current_user, token_id)
    flash("Token revoked: calls using it are refused from now on.", "success")
    return redirect(url_for("account.tokens"))
