"""Password change and "sign out everywhere" for the signed-in user."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import Length

from portal.account import bp
from portal.services.passwords import MIN_LENGTH, PasswordRejected, change_password
from portal.services.sessions import revoke_sessions


class PasswordForm(FlaskForm):
    """Current password, new password twice (the rules are checked by the service)."""

    current_password = PasswordField("Current password", validators=[Length(max=200)])
    new_password = PasswordField(
        "New password", validators=[Length(max=200)],
        description=f"At least {MIN_LENGTH} characters; not your e-mail address and not a "
                    "commonly used password.")
    confirm_password = PasswordField("New password again", validators=[Length(max=200)])


class SignOutEverywhereForm(FlaskForm):
    """Sign out every session of the account (CSRF only)."""


@bp.route("/account/password", methods=["GET", "POST"], endpoint="change_password")
@login_required
def change_password_page():
    """Change the signed-in user's password; this browser stays signed in."""
    form = PasswordForm()
    status = 200
    user = current_user._get_current_object()
    if form.validate_on_submit():
        forced = user.must_change_password
        try:
            change_password(user, form.current_password.data or "",
                            form.new_password.data or "", form.confirm_password.data or "")
        except PasswordRejected as rejected:
            for name, messages in rejected.problems.items():
                getattr(form, name).errors = list(messages)
            status = 400
        else:
            # The session token changed: sign this browser in again with the new one
            # (and a new remember-me cookie if it had one).
            cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            login_user(user, remember=cookie in request.cookies, fresh=True)
            flash("Password changed. Every other session of this account has been signed out.",
                  "success")
            return redirect(url_for("programmes.index" if forced else "account.tokens"))
    elif form.is_submitted():
        status = 400
    return render_template("account/password.html", form=form), status


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    """End every session of the account, on every device, this browser included."""
    user = current_user._get_current_object()
    logout_user()
    revoke_sessions(user, actor=user, action="user_signed_out_everywhere")
    flash("You are signed out on every device and browser.", "info")
    return redirect(url_for("auth.login"))
