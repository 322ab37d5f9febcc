"""Sign-in and sign-out views (the Flask-Login loaders are in ``portal.auth.session``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth import bp
from portal.auth.forms import SignInForm
from portal.services.sessions import revoke_sessions
from portal.services.signin import SignInRefused, authenticate


def _safe_next(target: str | None) -> str:
    # A path on this site only: no scheme or host, no "//" or "/\" (browsers read both as
    # another host), no CR/LF or other control characters (header injection).
    if (target and target.startswith("/") and not target.startswith(("//", "/\\"))
            and target.isprintable() and urlsplit(target).netloc == ""):
        return target
    return url_for("programmes.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("programmes.index"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data)
        except SignInRefused as refused:
            form.password.errors.append(refused.message)
            status = 401
        else:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (a POST, so a link elsewhere cannot sign you out).

    The user's session token is rotated, which ends their sessions on every device
    (and every remember-me cookie), not only this browser's.
    """
    user = current_user._get_current_object()
    logout_user()
    revoke_sessions(user, actor=user, action="user_signed_out")
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
