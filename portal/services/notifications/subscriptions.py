"""A user's notification choices: per programme they can see, or for all of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.access import visible_programmes
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme, User
from portal.models.notifications import DELIVERY_MODES, EVENT_TYPES, NotificationSubscription
from portal.services import DomainError, NotFound
from portal.services.notifications.recipients import Choice, choice_for

ALL = ""


@dataclass
class SubscriptionRow:
    """One line of the settings page: a programme (or all) and the effective choice."""

    key: str  # programme code, or "" for all programmes
    title: str
    choice: Choice


def rows_for(user: User) -> list[SubscriptionRow]:
    """The user's choice for all programmes, then for each programme they can see."""
    all_row = db.session.scalar(select(NotificationSubscription).where(
        NotificationSubscription.user_id == user.id,
        NotificationSubscription.programme_id.is_(None)))
    rows = [SubscriptionRow(ALL, "All programmes", Choice(
        frozenset(all_row.events_json or ()), all_row.mode, "all") if all_row
        else Choice(frozenset(), "immediate", "defaults"))]
    programmes = db.session.scalars(visible_programmes(user)
                                    .order_by(MonitoringProgramme.code)).all()
    for programme in programmes:
        rows.append(SubscriptionRow(programme.code, programme.title,
                                    choice_for(user.id, programme.id)))
    return rows


def _programme(user: User, code: str) -> MonitoringProgramme | None:
    if code == ALL:
        return None
    programme = db.session.scalar(visible_programmes(user)
                                  .where(MonitoringProgramme.code == code))
    if programme is None:  # out of scope or absent: the same answer (invariant 6)
        raise NotFound("No such programme.")
    return programme


def save(user: User, code: str, events: list[str], mode: str) -> NotificationSubscription:
    """Store the user's choice for programme ``code`` ("" = all programmes).

    Raises:
        NotFound: the user cannot see the programme.
        DomainError: an unknown event (field ``events``) or mode (field ``mode``).
    """
    programme = _programme(user, code)
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise DomainError(f"Unknown event: {unknown[0][:40]}.", field="events")
    if mode not in DELIVERY_MODES:
        raise DomainError("Choose immediately or daily digest.", field="mode")
    begin_write()
    programme_id = programme.id if programme else None
    row = db.session.scalar(select(NotificationSubscription).where(
        NotificationSubscription.user_id == user.id,
        NotificationSubscription.programme_id.is_(None) if programme_id is None
        else NotificationSubscription.programme_id == programme_id))
    if row is None:
        row = NotificationSubscription(user_id=user.id, programme_id=programme_id)
        db.session.add(row)
    row.events_json = [event for event in EVENT_TYPES if event in set(events)]
    row.mode = mode
    db.session.commit()
    return row


def reset(user: User, code: str) -> None:
    """Forget the user's choice for ``code``: role defaults (or the all-programmes choice)."""
    programme = _programme(user, code)
    begin_write()
    row = db.session.scalar(select(NotificationSubscription).where(
        NotificationSubscription.user_id == user.id,
        NotificationSubscription.programme_id.is_(None) if programme is None
        else NotificationSubscription.programme_id == programme.id))
    if row is not None:
        db.session.delete(row)
    db.session.commit()
