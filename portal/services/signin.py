"""Checking a sign-in: one answer for every failure, lock-out, audit.

An unknown e-mail, a wrong password and a locked account get the same message and
cost the same work (one password hash and one audited write), so the sign-in
form cannot be used to find out which accounts exist or are locked. Only someone
who typed the right password learns that the account is locked or deactivated.

The write (failure counter, lock, ``last_login_at``, audit) is done in a
transaction that takes SQLite's write lock up front (``begin_write``), after the
password hash, so a sign-in waits for busy workers instead of failing with
"database is locked", and never holds the lock while hashing.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import User, utcnow
from portal.models.users import hash_password
from portal.services import DomainError, audit

GENERIC_REFUSAL = "Wrong e-mail or password."


class SignInRefused(DomainError):
    """Sign-in failed; the message never says which of e-mail or password was wrong."""


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    del method  # the cache key: one dummy hash per configured hashing method
    return hash_password("no-such-account-dummy-password")


def _refusal(user: User | None, reason: str, email: str,
             message: str = GENERIC_REFUSAL) -> SignInRefused:
    """Audit a failed sign-in, commit, and return the ``SignInRefused`` to raise."""
    audit.record("sign_in_failed", object_type="user", object_id=user.id if user else None,
                 metadata={"email": email[:254], "reason": reason})
    db.session.commit()
    return SignInRefused(message)


def authenticate(email: str, password: str) -> User:
    """Check credentials, counting failures and locking the account after too many.

    Args:
        email: as typed (compared case-insensitively).
        password: as typed.

    Returns:
        The user, when the password is right and the account is active and not locked.

    Raises:
        SignInRefused: with a message fit to show; the generic one unless the
            password was right.
    """
    wanted = email.strip().lower()
    user = None
    if "\x00" in wanted:  # no address has one, and PostgreSQL refuses them in text
        wanted = wanted.replace("\x00", "\N{REPLACEMENT CHARACTER}")
    else:
        user = db.session.scalar(select(User).where(func.lower(User.email) == wanted))
    if user is None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        check_password_hash(_dummy_hash(method), password)
        begin_write()
        raise _refusal(None, "unknown_account", wanted)
    password_ok = user.check_password(password)
    begin_write()
    user = db.session.scalar(select(User).where(User.id == user.id).with_for_update()
                             .execution_options(populate_existing=True))
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        if not password_ok:
            raise _refusal(user, "locked", wanted)
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise _refusal(user, "locked", wanted,
              f"Too many failed sign-ins: this account is locked for {minutes} more minute(s).")
    if not password_ok:
        user.failed_logins += 1
        if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
            user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record("user_locked_out", object_type="user", object_id=user.id,
                         metadata={"email": user.email})
        raise _refusal(user, "wrong_password", wanted)
    if not user.active:
        raise _refusal(user, "deactivated", wanted,
                       "This account is deactivated; ask an administrator.")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("user_signed_in", actor=user, object_type="user", object_id=user.id)
    db.session.commit()
    return user
