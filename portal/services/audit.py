"""Writing the append-only audit trail."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from sqlalchemy import insert

from portal.dbutil import Write
from portal.extensions import db
from portal.models import AuditEvent, User, utcnow


def current_request_id() -> str | None:
    """Return the id of the request being served, if any."""
    return g.get("request_id") if has_request_context() else None


#: The one statement that writes the audit trail, built once (a Core insert: no ORM
#: object to track and flush, and nothing reads an event back in the same transaction).
#: Inline: the new id is not read back (no RETURNING), so the event can go with the
#: commit in one round trip (``dbutil.commit(writes=...)``).
_INSERT_EVENT = insert(AuditEvent.__table__).inline()


def record(action: str, **details: Any) -> None:
    """Write an audit event in the current transaction (the caller commits).

    The arguments are :func:`event`'s.
    """
    db.session.execute(*event(action, **details))


def event(
    action: str,
    *,
    actor: User | None = None,
    object_type: str,
    object_id: Any = None,
    programme_id: int | None = None,
    metadata: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> Write:
    """An audit event as a statement and its parameters: :func:`record` executes it; a
    caller may instead make it with its commit (``dbutil.commit(writes=...)``).

    Args:
        action: what happened, e.g. ``programme_run_queued``.
        actor: who did it; ``None`` means the system (scheduler, worker, reconciler).
        object_type / object_id: what it was done to.
        programme_id: the programme concerned, for scoping the audit log.
        metadata: JSON-serialisable details (a before/after diff, a reason).
        request_id: the HTTP request id; defaults to the current request's.
    """
    actor_obj = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return _INSERT_EVENT, {
        "actor_id": actor_obj.id if actor_obj else None,
        "actor_label": actor_obj.email if actor_obj else "system",
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "programme_id": programme_id,
        "metadata_json": metadata or {},
        "request_id": request_id or current_request_id(),
        "created_at": utcnow(),
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return ``{field: {"before": x, "after": y}}`` for the fields that changed."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }
