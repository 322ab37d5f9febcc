"""Access helpers added by issue 5, built on the rules in access.py (not replacing them).

``permitted_programme_ids`` answers ``can()`` for a whole page of programmes in one
statement (the alert inbox would otherwise ask twice per row).

Who may read which audit events:

Admins read the whole trail. Everyone else reads the events of the programmes they may
*edit* (owners and stewards, through active assignments), and nothing that is not tied
to a programme. The roles come from ``access.ACTION_ROLES[EDIT]``, so the rule cannot
drift from ``can()``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select

from portal import access
from portal.models import (
    MonitoringProgramme,
    MonitoringProgrammeSteward,
    institution_members,
    programme_institutions,
)


def auditable_programme_ids(user: Any) -> Select | None:
    """Return a SELECT of the programme ids whose audit events ``user`` may read.

    Args:
        user: the acting user.

    Returns:
        ``None`` for admins (no restriction), otherwise a one-column SELECT usable in
        ``AuditEvent.programme_id.in_(...)`` (empty for anonymous or inactive users).
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return select(MonitoringProgramme.id).where(False)
    if user.is_admin:
        return None
    return select(MonitoringProgrammeSteward.programme_id).where(
        MonitoringProgrammeSteward.user_id == user.id,
        MonitoringProgrammeSteward.is_active.is_(True),
        MonitoringProgrammeSteward.role.in_(sorted(access.ACTION_ROLES[access.EDIT])),
    )


def may_read_audit(user: Any, programme: MonitoringProgramme) -> bool:
    """Whether ``user`` may read ``programme``'s audit events (admins and editors)."""
    return access.can(user, access.EDIT, programme)


#: permitted_programme_ids' statements, built once (a list page runs them per request).
_STEWARD_PROGRAMMES_AMONG = select(MonitoringProgrammeSteward.programme_id).where(
    MonitoringProgrammeSteward.user_id == bindparam("user_id"),
    MonitoringProgrammeSteward.is_active.is_(True),
    MonitoringProgrammeSteward.role.in_(bindparam("roles", expanding=True)),
    MonitoringProgrammeSteward.programme_id.in_(bindparam("ids", expanding=True)))
_MEMBER_PROGRAMMES_AMONG = select(programme_institutions.c.programme_id).where(
    programme_institutions.c.institution_id == institution_members.c.institution_id,
    institution_members.c.user_id == bindparam("user_id"),
    programme_institutions.c.programme_id.in_(bindparam("ids", expanding=True)))


def permitted_programme_ids(user: Any, action: str, programme_ids: set[int]) -> set[int]:
    """Return the ids among ``programme_ids`` on which ``can(user, action, ·)`` holds.

    One statement for steward roles, plus one when the action is open to institution
    members; the same rules as ``access.can`` (admins may do everything).
    """
    roles = access.ACTION_ROLES[action]
    if not programme_ids or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_admin:
        return set(programme_ids)
    from portal.extensions import db

    ids = sorted(programme_ids)
    allowed = set(db.session.scalars(_STEWARD_PROGRAMMES_AMONG,
                                     {"user_id": user.id, "roles": sorted(roles), "ids": ids}))
    if "member" in roles:
        allowed |= set(db.session.scalars(_MEMBER_PROGRAMMES_AMONG,
                                          {"user_id": user.id, "ids": ids}))
    return allowed
