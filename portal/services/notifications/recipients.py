"""Who receives an event: subscriptions, role defaults, and the pages' scoping query.

A user's choice for one programme wins over their choice for all programmes, which
wins over the defaults of their roles on the programme. Whatever the choice, a user
receives an event only when ``access.visible_programmes`` (the query the pages use)
still includes the programme at fan-out time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from portal.access import visible_programmes
from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeSteward, User
from portal.models.notifications import NotificationSubscription

#: The events each steward role hears about when the user chose nothing.
ROLE_DEFAULTS: dict[str, frozenset[str]] = {
    "owner": frozenset({"run.failed", "run.blocked", "run.lost", "alert.escalated",
                        "data.late", "data.arrived"}),
    "steward": frozenset({"run.failed", "run.blocked", "run.lost", "alert.escalated",
                          "data.late", "data.arrived"}),
    "operator": frozenset({"run.failed", "run.lost"}),
    "reviewer": frozenset({"alert.opened", "release.published"}),
}


@dataclass(frozen=True)
class Choice:
    """What a user hears about one programme, and how."""

    events: frozenset[str]
    mode: str  # immediate | digest
    source: str  # programme | all | defaults


def role_defaults(roles: set[str] | frozenset[str]) -> frozenset[str]:
    """The union of the default events of ``roles``."""
    events: set[str] = set()
    for role in roles:
        events |= ROLE_DEFAULTS.get(role, frozenset())
    return frozenset(events)


def steward_roles(user_id: int, programme_id: int) -> set[str]:
    """The user's active steward roles on the programme."""
    return set(db.session.scalars(select(MonitoringProgrammeSteward.role).where(
        MonitoringProgrammeSteward.user_id == user_id,
        MonitoringProgrammeSteward.programme_id == programme_id,
        MonitoringProgrammeSteward.is_active.is_(True))))


def choice_for(user_id: int, programme_id: int) -> Choice:
    """The user's effective choice for the programme (programme > all > role defaults)."""
    rows = {row.programme_id: row for row in db.session.scalars(
        select(NotificationSubscription).where(
            NotificationSubscription.user_id == user_id,
            or_(NotificationSubscription.programme_id == programme_id,
                NotificationSubscription.programme_id.is_(None))))}
    for key, source in ((programme_id, "programme"), (None, "all")):
        if key in rows:
            return Choice(frozenset(rows[key].events_json or ()), rows[key].mode, source)
    return Choice(role_defaults(steward_roles(user_id, programme_id)), "immediate", "defaults")


def can_see(user: User, programme_id: int) -> bool:
    """Whether ``user`` sees the programme, by the pages' own scoping query."""
    return db.session.scalar(visible_programmes(user)
                             .where(MonitoringProgramme.id == programme_id)) is not None


def recipients(event_type: str, programme_id: int) -> list[tuple[User, str]]:
    """The users who receive ``event_type`` about the programme, with their mode.

    Candidates are the programme's active stewards and everyone with a subscription
    for it or for all programmes; each is kept only if their choice includes the
    event and they can see the programme.
    """
    candidate_ids = set(db.session.scalars(select(MonitoringProgrammeSteward.user_id).where(
        MonitoringProgrammeSteward.programme_id == programme_id,
        MonitoringProgrammeSteward.is_active.is_(True))))
    candidate_ids |= set(db.session.scalars(select(NotificationSubscription.user_id).where(
        or_(NotificationSubscription.programme_id == programme_id,
            NotificationSubscription.programme_id.is_(None)))))
    found = []
    for user in db.session.scalars(select(User).where(User.id.in_(candidate_ids),
                                                      User.active.is_(True))
                                   .order_by(User.id)):
        choice = choice_for(user.id, programme_id)
        if event_type in choice.events and can_see(user, programme_id):
            found.append((user, choice.mode))
    return found
