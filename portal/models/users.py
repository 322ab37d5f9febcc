"""Users, institutions, memberships and API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow

institution_members = Table(
    "institution_members",
    db.metadata,
    Column("institution_id", ForeignKey("institutions.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def new_session_token() -> str:
    """A fresh random per-user session token (see ``User.session_token``)."""
    return secrets.token_hex(32)


def hash_password(password: str) -> str:
    """A salted hash of ``password`` with the configured method (scrypt by default)."""
    method = "scrypt"
    if has_app_context():
        method = current_app.config.get("PASSWORD_HASH_METHOD", method)
    return generate_password_hash(password, method=method)


class Institution(db.Model):
    """An organisation that operates programmes; its members can see them."""

    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(
        secondary=institution_members, back_populates="institutions", order_by="User.email"
    )

    def __repr__(self) -> str:
        return f"<Institution {self.code}>"


class User(UserMixin, db.Model):
    """A person who signs in to the portal."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Flask-Login's alternative id: a new value revokes every session and
    # remember-me cookie of the user at once (sign out, password change, deactivation).
    session_token: Mapped[str] = mapped_column(
        String(64), default=new_session_token, unique=True, index=True
    )
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # The IANA zone this user reads times in; None follows the portal's default rule
    # (a programme's zone on its pages, UTC elsewhere): portal/services/preferences.py.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    institutions: Mapped[list[Institution]] = relationship(
        secondary=institution_members, back_populates="members", order_by="Institution.name"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive users cannot sign in
        return self.active

    def get_id(self) -> str:
        """Flask-Login's alternative id: the session token, not the primary key.

        Sessions and remember-me cookies carry this value, so rotating the token
        (``portal.services.sessions``) ends all of them at once.
        """
        return self.session_token

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password``."""
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        """Return whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(db.Model):
    """A per-user token for the JSON API; only its sha256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
