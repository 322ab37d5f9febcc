"""Sign-in views and the Flask-Login loaders."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth import bp
from portal.auth.forms import SignInForm
from portal.auth.tokens import user_for_token
from portal.extensions import db, login_manager
from portal.models import User
from portal.services.users import SignInRefused, authenticate

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the signed-in user from the session."""
    return db.session.get(User, int(user_id))


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """Authenticate API calls carrying ``Authorization: Bearer <token>``."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = user_for_token(header.removeprefix("Bearer ").strip())
    if user is not None:
        g.via_token = True
    return user


@login_manager.unauthorized_handler
def unauthorized():
    """API calls get a JSON 401; pages redirect to the sign-in form."""
    from portal.access import wants_json
    from portal.errors import error_response

    if wants_json():
        return error_response(401, "Sign in or send an API token (Authorization: Bearer ...).")
    return redirect(url_for("auth.login", next=request.full_path))


def _safe_next(target: str | None) -> str:
    if target and urlsplit(target).netloc == "" and target.startswith("/"):
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
    """Sign out (a POST, so a link elsewhere cannot sign you out)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
