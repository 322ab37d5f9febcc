"""Users, institutions, memberships and sign-in (with lock-out)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import Institution, User
from portal.services import Conflict, DomainError, FieldErrors, audit
from portal.services.sessions import rotate_session_token
from portal.services.signin import SignInRefused, authenticate

__all__ = ["SignInRefused", "authenticate", "create_institution", "create_user",
           "normalise_email", "set_active", "set_membership", "user_problems"]

MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    """Return the canonical form of an e-mail address or raise DomainError."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(f"Not a valid e-mail address: {exc}", field="email") from exc


def user_problems(email: str, name: str, password: str) -> list[DomainError]:
    """Every problem with a new user's e-mail, name and password, without writing."""
    problems: list[DomainError] = []
    try:
        normalised = normalise_email(email)
    except DomainError as error:
        problems.append(error)
    else:
        if db.session.scalar(select(User.id).where(func.lower(User.email) == normalised)):
            problems.append(Conflict(f"A user with e-mail {normalised} already exists.",
                                     field="email"))
    if not name.strip():
        problems.append(DomainError("A name is required.", field="name"))
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(DomainError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"))
    return problems


def create_user(
    email: str, name: str, password: str, *, is_admin: bool = False, actor: User | None = None
) -> User:
    """Create a user; raise DomainError (FieldErrors: every field at fault) naming the field."""
    if problems := user_problems(email, name, password):
        raise FieldErrors(problems)
    email = normalise_email(email)
    user = User(email=email, name=name.strip(), is_admin=is_admin, active=True)
    user.set_password(password)  # hashed before taking the write lock
    begin_write()
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        db.session.rollback()  # release the write lock
        raise Conflict(f"A user with e-mail {email} already exists.", field="email")
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


def create_institution(name: str, code: str, *, actor: User | None = None) -> Institution:
    """Create an institution; codes and names are unique."""
    name, code = name.strip(), code.strip().upper()
    if not name:
        raise DomainError("A name is required.", field="name")
    if not code or not code.replace("-", "").replace("_", "").isalnum():
        raise DomainError("The code must be letters, digits, '-' or '_'.", field="code")
    begin_write()
    if db.session.scalar(
        select(Institution.id).where((Institution.code == code) | (Institution.name == name))
    ):
        db.session.rollback()  # release the write lock
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
    begin_write()
    if member and institution not in user.institutions:
        user.institutions.append(institution)
    elif not member and institution in user.institutions:
        user.institutions.remove(institution)
    else:
        db.session.rollback()  # nothing to change: release the write lock
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
    begin_write()
    user.active = active
    if not active:
        rotate_session_token(user)  # every session and remember-me cookie ends now
    audit.record(
        "user_activated" if active else "user_deactivated",
        actor=actor,
        object_type="user",
        object_id=user.id,
    )
    db.session.commit()
