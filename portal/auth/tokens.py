"""Per-user API tokens, stored as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import ApiToken, User, utcnow
from portal.services import DomainError, NotFound, audit

TOKEN_PREFIX = "po_"
#: ``last_used_at`` is written at most this often per token, so API reads rarely write.
LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the secret (shown once)."""
    name = name.strip()
    if not name:
        raise DomainError("Give the token a name, e.g. 'CI pipeline'.", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name[:100], token_hash=_hash(secret), prefix=secret[:10])
    begin_write()
    db.session.add(token)
    db.session.flush()
    audit.record("api_token_created", actor=user, object_type="api_token", object_id=token.id,
                 metadata={"name": token.name})
    db.session.commit()
    return token, secret


def revoke_token(user: User, token_id: int) -> None:
    """Revoke one of ``user``'s tokens."""
    begin_write()
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        db.session.rollback()
        raise NotFound("No such active token.")
    token.revoked_at = utcnow()
    audit.record("api_token_revoked", actor=user, object_type="api_token", object_id=token.id)
    db.session.commit()


def user_for_token(secret: str) -> User | None:
    """Return the active user owning an unrevoked token, or None.

    Records when the token was last used (to the minute), in a write transaction of
    its own that takes the SQLite write lock up front.
    """
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token_id, user_id = token.id, token.user_id
        begin_write()
        db.session.execute(update(ApiToken).where(ApiToken.id == token_id)
                           .values(last_used_at=now))
        db.session.commit()
        return db.session.get(User, user_id)
    return token.user
