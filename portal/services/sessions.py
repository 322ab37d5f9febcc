"""Revoking sign-ins: the per-user session token.

Flask-Login identifies a signed-in browser by ``User.session_token`` (its
"alternative id"): the session cookie and the remember-me cookie both carry it.
Giving the user a new token therefore ends every session and remember-me cookie
issued before, on every device, at once. Sign-out, sign-out everywhere, password
change or reset, deactivation and a forced reset all rotate it.
"""

from __future__ import annotations

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import User
from portal.models.users import new_session_token
from portal.services import DomainError, audit


def rotate_session_token(user: User) -> None:
    """Give ``user`` a new session token (in the caller's transaction)."""
    user.session_token = new_session_token()


def revoke_sessions(user: User, *, actor: User | None, action: str) -> None:
    """End every session of ``user`` (audited as ``action``) and commit.

    Args:
        user: whose sessions end.
        actor: who did it (the user themself, or an admin).
        action: the audit action, e.g. ``user_signed_out`` or ``user_signed_out_everywhere``.
    """
    begin_write()
    rotate_session_token(user)
    audit.record(action, actor=actor, object_type="user", object_id=user.id)
    db.session.commit()


def force_password_reset(user: User, *, actor: User) -> None:
    """Make ``user`` choose a new password at their next sign-in (audited).

    Every existing session ends now; until the password is changed, pages send the
    user to the change-password form and the API refuses their tokens.
    """
    if user.id == actor.id:
        raise DomainError("Use “Change password” on your own account page instead.",
                          field="user")
    begin_write()
    user.must_change_password = True
    rotate_session_token(user)
    audit.record("user_password_reset_forced", actor=actor, object_type="user",
                 object_id=user.id)
    db.session.commit()
