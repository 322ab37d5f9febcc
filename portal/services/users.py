"""Users, institutions, memberships and sign-in (with lock-out)."""

from __future__ import annotations

from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Institution, User, utcnow
from portal.services import Conflict, DomainError, audit

MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    """Return the canonical form of an e-mail address or raise DomainError."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(f"Not a valid e-mail address: {exc}", field="email") from exc


def create_user(
    email: str, name: str, password: str, *, is_admin: bool = False, actor: User | None = None
) -> User:
    """Create a user; raise DomainError naming the field at fault."""
    email = normalise_email(email)
    if not name.strip():
        raise DomainError("A name is required.", field="name")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise Conflict(f"A user with e-mail {email} already exists.", field="email")
    user = User(email=email, name=name.strip(), is_admin=is_admin, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user_created",
        actor=actor,
        object_type="user",
        object_id=user.id,
        metadata={"email": email, "is_admin": is_admin},
    )
    db.session.commit()
    return user


class SignInRefused(DomainError):
    """Sign-in failed; the message never says which of e-mail or password was wrong."""


def authenticate(email: str, password: str) -> User:
    """Check credentials, counting failures and locking the account after too many.

    Returns:
        The user, when the password is right and the account is active and not locked.

    Raises:
        SignInRefused: with a message fit to show.
    """
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    now = utcnow()
    if user is None:
        raise SignInRefused("Wrong e-mail or password.")
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise SignInRefused(
            f"Too many failed sign-ins: this account is locked for {minutes} more minute(s)."
        )
    if not user.check_password(password):
        user.failed_logins += 1
        limit = current_app.config["LOGIN_MAX_FAILURES"]
        if user.failed_logins >= limit:
            user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record("user_locked_out", object_type="user", object_id=user.id)
        db.session.commit()
        raise SignInRefused("Wrong e-mail or password.")
    if not user.active:
        raise SignInRefused("This account is deactivated; ask an administrator.")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("user_signed_in", actor=user, object_type="user", object_id=user.id)
    db.session.commit()
    return user


def create_institution(name: str, code: str, *, actor: User | None = None) -> Institution:
    """Create an institution; codes and names are unique."""
    name, code = name.strip(), code.strip().upper()
    if not name:
        raise DomainError("A name is required.", field="name")
    if not code or not code.replace("-", "").replace("_", "").isalnum():
        raise DomainError("The code must be letters, digits, '-' or '_'.", field="code")
    if db.session.scalar(
        select(Institution.id).where((Institution.code == code) | (Institution.name == name))
    ):
        raise Conflict("An institution with this name or code already exists.", field="code")
    institution = Institution(name=name, code=code)
    db.session.add(institution)
    db.session.flush()
    audit.record(
        "institution_created", actor=actor, object_type="institution", object_id=institution.id
    )
    db.session.commit()
    return institution


def set_membership(user: User, institution: Institution, member: bool, *, actor: User) -> None:
    """Add ``user`` to or remove them from ``institution`` (audited)."""
    if member and institution not in user.institutions:
        user.institutions.append(institution)
    elif not member and institution in user.institutions:
        user.institutions.remove(institution)
    else:
        return
    audit.record(
        "membership_added" if member else "membership_removed",
        actor=actor,
        object_type="user",
        object_id=user.id,
        metadata={"institution": institution.code},
    )
    db.session.commit()


def set_active(user: User, active: bool, *, actor: User) -> None:
    """Activate or deactivate a user (audited); an admin cannot deactivate themself."""
    if user.id == actor.id and not active:
        raise DomainError("You cannot deactivate your own account.", field="active")
    user.active = active
    audit.record(
        "user_activated" if active else "user_deactivated",
        actor=actor,
        object_type="user",
        object_id=user.id,
    )
    db.session.commit()
