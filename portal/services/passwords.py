"""Password strength rules, password change and admin resets.

Every change of a password also rotates the user's session token
(``portal.services.sessions``), so sessions and remember-me cookies issued
before the change stop working at once.
"""

from __future__ import annotations

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import User, utcnow
from portal.models.users import hash_password, new_session_token
from portal.services import DomainError, audit

MIN_LENGTH = 12

#: Passwords that appear at the top of every leaked-password list (compared lower-cased).
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "qwertyuiopas", "qwertyuiop123", "password1234",
    "password12345", "passwordpassword", "123456123456", "iloveyou1234", "letmein12345",
    "welcome12345", "administrator", "changeme1234", "trustno1trustno1", "abc123abc123",
    "monkey123456", "football1234", "baseball1234", "sunshine1234", "princess1234",
    "qwerty123456", "aaaaaaaaaaaa", "111111111111", "000000000000", "correcthorsebatterystaple",
    "correct-horse-battery-staple", "passw0rd1234", "p@ssw0rd1234", "dragon123456",
    "master123456", "superman1234", "starwars1234", "whatever1234", "nothing12345",
})


class PasswordRejected(DomainError):
    """A password change was refused; ``problems`` maps each form field to its messages."""

    def __init__(self, problems: dict[str, list[str]]):
        field, messages = next(iter(problems.items()))
        super().__init__(messages[0], field=field)
        self.problems = problems


def strength_problems(password: str, *, email: str) -> list[str]:
    """Return every strength rule ``password`` breaks (empty when it is acceptable).

    Rules: at least ``MIN_LENGTH`` characters, not the account's e-mail address and
    not one of ``COMMON_PASSWORDS``.
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters (this one has {len(password)}).")
    lowered = password.strip().lower()
    if lowered == email.strip().lower() or lowered == email.split("@")[0].lower():
        problems.append("Do not use your e-mail address as your password.")
    if lowered in COMMON_PASSWORDS:
        problems.append("This password is on the list of commonly used passwords; choose "
                        "another.")
    return problems


def change_password(user: User, current_password: str, new_password: str,
                    confirmation: str | None = None) -> None:
    """Change ``user``'s own password after checking the current one (audited).

    Every rule that fails is reported at once. On success the session token is
    rotated, which signs out every other session of the user; the caller signs the
    current browser in again.

    Args:
        user: the signed-in user.
        current_password: as typed; must match.
        new_password: must pass ``strength_problems`` and differ from the current one.
        confirmation: the new password typed again, when the form asks for it.

    Raises:
        PasswordRejected: naming ``current_password``, ``new_password`` and/or
            ``confirm_password``.
    """
    problems: dict[str, list[str]] = {}
    if not current_password:
        problems["current_password"] = ["Enter your current password."]
    elif not user.check_password(current_password):
        problems["current_password"] = ["The current password is wrong."]
    new_problems = strength_problems(new_password, email=user.email)
    if new_password == current_password or user.check_password(new_password):
        new_problems.append("The new password must differ from the current one.")
    if new_problems:
        problems["new_password"] = new_problems
    if confirmation is not None and confirmation != new_password:
        problems["confirm_password"] = ["The two new passwords differ."]
    if problems:
        begin_write()
        audit.record("password_change_failed", actor=user, object_type="user", object_id=user.id,
                     metadata={"fields": sorted(problems)})
        db.session.commit()
        raise PasswordRejected(problems)
    hashed = hash_password(new_password)  # hashed before taking the write lock
    begin_write()
    _store_password(user, hashed, must_change=False)
    audit.record("password_changed", actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def reset_password(user: User, new_password: str, *, actor: User | None = None,
                   must_change: bool = True) -> None:
    """Set a new password for ``user`` (an administrator's reset; audited).

    By default the user must choose their own password at their next sign-in.
    Every existing session of the user ends.

    Raises:
        PasswordRejected: naming ``password`` when a strength rule fails.
    """
    problems = strength_problems(new_password, email=user.email)
    if problems:
        raise PasswordRejected({"password": problems})
    hashed = hash_password(new_password)
    begin_write()
    _store_password(user, hashed, must_change=must_change)
    audit.record("password_reset", actor=actor, object_type="user", object_id=user.id,
                 metadata={"must_change_password": must_change})
    db.session.commit()


def _store_password(user: User, hashed: str, *, must_change: bool) -> None:
    user.password_hash = hashed
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    user.session_token = new_session_token()
