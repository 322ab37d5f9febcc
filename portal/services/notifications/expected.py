"""Expected deliveries: a programme declares when new data is due in its inbox.

A due day ends at local midnight in the programme's time zone ("by the 5th" means
before the 6th begins); the deadline is that moment plus the grace period. Data
counts for a deadline when *new* data (a sha256 the programme never saw before, from
any source: an upload, a file a run read from the inbox folder, an HTTP source; see
``portal.services.input_sightings``) arrives after the previous due day ended and by
the deadline. When a deadline passes without any, the scheduler's notification pass
opens a ``data-late`` alert (deduplicated like rule alerts) and records a ``data.late``
event; the first new data afterwards resolves the alert and records ``data.arrived``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme, ProgrammeInputSighting, User, utcnow
from portal.models.notifications import EXPECTED_CADENCES, ExpectedDelivery, NotificationEvent
from portal.services import DomainError, audit, programme_summary
from portal.services.notifications.events import programme_part, record_event

LATE_ALERT = "data-late"
MAX_GRACE_DAYS = 60


@dataclass
class Slot:
    """One deadline and what arrived for it."""

    due_end: datetime  # the due day ended (UTC)
    deadline: datetime  # due_end + grace
    status: str  # on time | late | missing | open
    arrived_at: datetime | None


def _zone(programme: MonitoringProgramme) -> ZoneInfo:
    try:
        return ZoneInfo(programme.timezone or "UTC")
    except (ValueError, OSError, KeyError):
        return ZoneInfo("UTC")


def _is_boundary(expectation: ExpectedDelivery, day: date) -> bool:
    """Whether local midnight starting ``day`` ends a due day."""
    due = day - timedelta(days=1)
    if expectation.cadence == "weekly":
        return due.isoweekday() == expectation.due_day
    if expectation.cadence == "monthly":
        return due.day == expectation.due_day
    return True


def due_ends(expectation: ExpectedDelivery, zone: ZoneInfo, start: datetime,
             end: datetime) -> list[datetime]:
    """The moments (UTC) in ``[start, end]`` at which a due day ends."""
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date() + timedelta(days=1)
    found = []
    while day <= last:
        if _is_boundary(expectation, day):
            moment = datetime.combine(day, time(0), zone).astimezone(start.tzinfo)
            if start <= moment <= end:
                found.append(moment)
        day += timedelta(days=1)
    return found


def _period(expectation: ExpectedDelivery) -> timedelta:
    return {"daily": timedelta(days=1), "weekly": timedelta(days=7)}.get(
        expectation.cadence, timedelta(days=31))


def _previous_end(expectation: ExpectedDelivery, zone: ZoneInfo, moment: datetime) -> datetime:
    ends = due_ends(expectation, zone, moment - 2 * _period(expectation) - timedelta(days=1),
                    moment - timedelta(seconds=1))
    return ends[-1] if ends else moment - _period(expectation)


def new_file_times(programme_id: int, after: datetime, upto: datetime | None) -> list[datetime]:
    """When new data (a sha256 the programme never saw before, from any source: an
    upload, a file in the inbox folder, an HTTP source) arrived in ``(after, upto]``."""
    seen = ProgrammeInputSighting.first_seen_at
    query = (select(seen).where(ProgrammeInputSighting.programme_id == programme_id,
                                seen > after)
             .order_by(seen))
    if upto is not None:
        query = query.where(seen <= upto)
    return list(db.session.scalars(query))


def punctuality(expectation: ExpectedDelivery, now: datetime, count: int = 12) -> list[Slot]:
    """The last ``count`` deadlines that passed, newest first, and how each went.

    On time: new data arrived after the previous due day ended and by the deadline.
    Late: none did, but one arrived before the next deadline. Open: the latest deadline,
    still awaited. Missing: otherwise. One query for the files, whatever ``count``.
    """
    programme, zone = expectation.programme, _zone(expectation.programme)
    grace = timedelta(days=expectation.grace_days)
    span = _period(expectation) * (count + 2) + grace
    ends = [e for e in due_ends(expectation, zone, now - span, now) if e + grace <= now]
    ends = ends[-count:]
    if not ends:
        return []
    starts = [_previous_end(expectation, zone, ends[0])] + ends[:-1]
    files = new_file_times(programme.id, starts[0], None)

    def first(after: datetime, upto: datetime | None) -> datetime | None:
        return next((t for t in files if t > after and (upto is None or t <= upto)), None)

    slots = []
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        deadline = end + grace
        on_time = first(start, deadline)
        if on_time:
            slots.append(Slot(end, deadline, "on time", on_time))
            continue
        following = ends[index + 1] + grace if index + 1 < len(ends) else None
        late = first(deadline, following)
        status = "late" if late else ("open" if following is None else "missing")
        slots.append(Slot(end, deadline, status, late))
    return list(reversed(slots))


def next_expected(expectation: ExpectedDelivery, now: datetime) -> Slot | None:
    """The next deadline still ahead (its due day and deadline)."""
    zone, grace = _zone(expectation.programme), timedelta(days=expectation.grace_days)
    for end in due_ends(expectation, zone, now - grace, now + 2 * _period(expectation) + grace):
        if end + grace > now:
            return Slot(end, end + grace, "due", None)
    return None


def get_expectation(programme: MonitoringProgramme) -> ExpectedDelivery | None:
    """The programme's declared expectation, if any."""
    return db.session.scalar(select(ExpectedDelivery)
                             .where(ExpectedDelivery.programme_id == programme.id))


def save_expectation(programme: MonitoringProgramme, user: User, *, cadence: str,
                     due_day: str | int, grace_days: str | int,
                     active: bool) -> ExpectedDelivery:
    """Declare (or change) when data is due; DomainError names the field at fault."""
    if cadence not in EXPECTED_CADENCES:
        raise DomainError(f"Cadence must be one of {', '.join(EXPECTED_CADENCES)}.",
                          field="cadence")
    limits = {"monthly": (1, 28, "a day of the month from 1 to 28"),
              "weekly": (1, 7, "a weekday from 1 (Monday) to 7 (Sunday)"),
              "daily": (1, 1, "1")}
    low, high, words = limits[cadence]
    try:
        day = int(due_day) if cadence != "daily" else 1
    except (TypeError, ValueError):
        day = -1
    if not low <= day <= high:
        raise DomainError(f"The due day must be {words}.", field="due_day")
    try:
        grace = int(grace_days)
    except (TypeError, ValueError):
        grace = -1
    if not 0 <= grace <= MAX_GRACE_DAYS:
        raise DomainError(f"The grace period must be 0 to {MAX_GRACE_DAYS} days.",
                          field="grace_days")
    begin_write()
    row = get_expectation(programme) or ExpectedDelivery(programme_id=programme.id)
    row.cadence, row.due_day, row.grace_days, row.active = cadence, day, grace, bool(active)
    db.session.add(row)
    audit.record("expected_delivery_saved", actor=user, object_type="programme",
                 object_id=programme.code, programme_id=programme.id,
                 metadata={"cadence": cadence, "due_day": day, "grace_days": grace,
                           "active": bool(active)})
    db.session.commit()
    return row


def _delivery_part(expectation: ExpectedDelivery, deadline: datetime, summary: str,
                   arrived_at: datetime | None = None) -> dict:
    return {"cadence": expectation.cadence, "due_day": expectation.due_day,
            "grace_days": expectation.grace_days, "deadline": deadline.isoformat(),
            "arrived_at": arrived_at.isoformat() if arrived_at else None, "summary": summary,
            "path": f"/programmes/{expectation.programme.code}/expected-delivery"}


def check(expectation: ExpectedDelivery, now: datetime) -> str | None:
    """Open or resolve the programme's data-late alert; return what happened, if anything.

    Adds to the current transaction; the caller commits.
    """
    from portal.services.alerts import _unresolved, raise_alert

    programme, zone = expectation.programme, _zone(expectation.programme)
    grace = timedelta(days=expectation.grace_days)
    if expectation.late_deadline_at is not None:
        deadline = expectation.late_deadline_at
        start = _previous_end(expectation, zone, deadline - grace)
        arrived = new_file_times(programme.id, start, None)
        if not arrived:
            return None
        alert = _unresolved(programme.id, LATE_ALERT)
        if alert is not None:
            alert.state, alert.resolved_at = "resolved", now
            alert.resolved_note = "Resolved automatically: the expected data arrived."
            programme_summary.alerts_changed(programme.id)
            audit.record("alert_auto_resolved", object_type="alert", object_id=alert.uuid,
                         programme_id=programme.id, metadata={"rule_id": LATE_ALERT})
        expectation.late_deadline_at = None
        record_event("data.arrived", programme.id, {
            "programme": programme_part(programme, programme.id),
            "delivery": _delivery_part(expectation, deadline,
                                       f"data due by {deadline:%Y-%m-%d %H:%M} UTC arrived",
                                       arrived[0])})
        return "arrived"
    ends = [e for e in due_ends(expectation, zone, now - grace - 2 * _period(expectation), now)
            if e + grace <= now and e > expectation.created_at]
    if not ends:
        return None
    end = ends[-1]
    deadline = end + grace
    if new_file_times(programme.id, _previous_end(expectation, zone, end), deadline):
        return None
    summary = f"no new data by {deadline:%Y-%m-%d %H:%M} UTC ({expectation.cadence})"
    event = record_event("data.late", programme.id, {
        "programme": programme_part(programme, programme.id),
        "delivery": _delivery_part(expectation, deadline, summary)},
        dedup_key=f"data-late:{programme.id}:{deadline.isoformat()}")
    if event is None:
        return None  # this deadline was already reported (and may have been resolved)
    expectation.late_deadline_at = deadline
    raise_alert(programme, None, rule_id=LATE_ALERT, severity="warning",
                message=f"Expected data is late: {summary}.",
                details={"system": True, "deadline": deadline.isoformat()})
    return "late"


def check_all(now: datetime | None = None) -> dict[str, int]:
    """Check every active expectation of an active programme (one commit each)."""
    now = now or utcnow()
    counts = {"late": 0, "arrived": 0}
    ids = list(db.session.scalars(
        select(ExpectedDelivery.id).join(MonitoringProgramme)
        .where(ExpectedDelivery.active.is_(True), MonitoringProgramme.active.is_(True))))
    for expectation_id in ids:
        begin_write()
        outcome = check(db.session.get(ExpectedDelivery, expectation_id), now)
        db.session.commit()
        if outcome:
            counts[outcome] += 1
    return counts


def late_counts(programme_ids: list[int], since: datetime) -> dict[int, int]:
    """Late deliveries per programme since ``since`` (for the metrics page)."""
    if not programme_ids:
        return {}
    return dict(db.session.execute(
        select(NotificationEvent.programme_id, func.count())
        .where(NotificationEvent.event_type == "data.late",
               NotificationEvent.programme_id.in_(programme_ids),
               NotificationEvent.created_at >= since)
        .group_by(NotificationEvent.programme_id)).all())


def late_summary(user: User, since: datetime) -> list[tuple[str, str, int]]:
    """``(code, title, late deliveries since since)`` for each programme ``user`` can see
    that expects deliveries, most late first."""
    from portal.access import visible_programmes

    programmes = db.session.scalars(
        visible_programmes(user).join(ExpectedDelivery,
                                      ExpectedDelivery.programme_id == MonitoringProgramme.id)
        .order_by(MonitoringProgramme.code)).all()
    counts = late_counts([p.id for p in programmes], since)
    rows = [(p.code, p.title, int(counts.get(p.id, 0))) for p in programmes]
    return sorted(rows, key=lambda row: -row[2])
