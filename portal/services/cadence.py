"""Cadence arithmetic: when is a programme next due? (calendar- and time-zone-correct)

Named cadences step in the programme's local calendar from an anchor slot: monthly
means the same day next month, clamped at the month's end (Jan 31 → Feb 28/29 →
Mar 31, because every slot is computed from the anchor, not from the previous slot);
daily and weekly keep the local wall-clock time across daylight-saving changes.
Anything else is a cron expression, evaluated by croniter in the local zone.
``manual`` and ``ad_hoc`` are never scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from dateutil.relativedelta import relativedelta

UNSCHEDULED = frozenset({"manual", "ad_hoc"})
STEPS: dict[str, relativedelta] = {
    "daily": relativedelta(days=1),
    "weekly": relativedelta(weeks=1),
    "monthly": relativedelta(months=1),
    "quarterly": relativedelta(months=3),
    "annual": relativedelta(years=1),
}
MAX_SLOTS = 100_000


def is_schedulable(cadence: str) -> bool:
    """Whether the scheduler should ever start runs for this cadence."""
    return cadence not in UNSCHEDULED


def cadence_error(cadence: str) -> str | None:
    """Return why ``cadence`` is not valid, or None when it is.

    Cron expressions have exactly five fields (minute hour day-of-month month
    day-of-week): croniter would read a sixth as seconds, which a scheduler ticking
    every minute cannot honour, so it is refused rather than silently misread. An
    expression that never fires (30 February) is refused too.
    """
    cadence = (cadence or "").strip()
    if cadence in UNSCHEDULED or cadence in STEPS:
        return None
    shown = cadence if len(cadence) <= 60 else cadence[:60] + "…"
    fields = cadence.split()
    if len(fields) > 5 and not cadence.startswith("@"):
        return (f"{shown!r} has {len(fields)} fields: use a 5-field cron expression "
                "(minute hour day-of-month month day-of-week); a seconds or year field is "
                "not supported")
    if len(cadence) > 100 or not croniter.is_valid(cadence):
        return (f"{shown!r} is neither a cadence ({', '.join([*STEPS, *UNSCHEDULED])}) "
                "nor a valid cron expression such as '0 6 * * 1'")
    try:
        croniter(cadence, datetime.now(UTC)).get_next(datetime)
    except CroniterError:
        return (f"{shown!r} never fires: no date matches it (such as 30 February); choose "
                "a day that exists")
    return None


def timezone_error(name: str) -> str | None:
    """Return why ``name`` is not a known IANA time zone, or None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a 100 kB "name"
        shown = name if len(name) <= 60 else name[:60] + "…"
        return f"{shown!r} is not a known time zone (use an IANA name such as Europe/Madrid)"
    return None


def _local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def default_anchor(timezone: str, moment: datetime) -> datetime:
    """The anchor a cadence set at ``moment`` gets: local midnight of that day (in UTC)."""
    return _local_midnight(moment, ZoneInfo(timezone)).astimezone(UTC)


def _nth_slot(cadence: str, anchor: datetime, zone: ZoneInfo, n: int) -> datetime:
    """The n-th slot after ``anchor`` in local wall-clock terms, returned in UTC."""
    local = anchor.astimezone(zone).replace(tzinfo=None)
    wall = local + STEPS[cadence] * n
    return wall.replace(tzinfo=zone).astimezone(UTC)


def next_run_after(cadence: str, timezone: str = "UTC", after: datetime | None = None,
                   anchor: datetime | None = None) -> datetime | None:
    """Return the first slot strictly after ``after`` (UTC, aware), or None if unscheduled.

    Args:
        cadence: a named cadence or a cron expression.
        timezone: the programme's IANA time zone.
        after: the moment to look after; defaults to now.
        anchor: a slot that fixes the phase of named cadences (the day of the month, the
            time of day); defaults to local midnight of ``after``.
    """
    if not is_schedulable(cadence):
        return None
    zone = ZoneInfo(timezone)
    after = after or datetime.now(UTC)
    if cadence in STEPS:
        anchor = anchor or _local_midnight(after, zone)
        if anchor > after:
            return anchor.astimezone(UTC)
        # Jump close for fine cadences, then walk: slots from the anchor never drift.
        n = 1
        if cadence in ("daily", "weekly"):
            days = 1 if cadence == "daily" else 7
            n = max(1, int((after - anchor).total_seconds() // (days * 86400)) - 1)
        while (slot := _nth_slot(cadence, anchor, zone, n)) <= after:
            n += 1
            if n > MAX_SLOTS:
                raise ValueError("cadence walk did not converge")
        return slot
    iterator = croniter(cadence, after.astimezone(zone))
    try:
        return iterator.get_next(datetime).astimezone(UTC)
    except CroniterError:  # saved before such cadences were refused: never due
        return None


@dataclass(frozen=True)
class DueSlots:
    """What the scheduler does with a due programme."""

    slot: datetime  # the slot this run stands for (the newest one due)
    skipped: int  # older due slots coalesced into this run
    next_slot: datetime  # the programme's next_run_at afterwards


def due_slots(cadence: str, timezone: str, first_due: datetime, now: datetime,
              anchor: datetime | None = None) -> DueSlots:
    """Coalesce every slot from ``first_due`` up to ``now`` into one run.

    Args:
        cadence: the programme's cadence (schedulable).
        timezone: its time zone.
        first_due: the programme's ``next_run_at`` (≤ now).
        now: the current time.
        anchor: the programme's schedule anchor (defaults to ``first_due``).
    """
    anchor = anchor if anchor is not None and anchor <= first_due else first_due
    slot, skipped = first_due, 0
    while True:
        following = next_run_after(cadence, timezone, after=slot, anchor=anchor)
        if following is None or following > now:
            return DueSlots(slot=slot, skipped=skipped, next_slot=following or slot)
        slot, skipped = following, skipped + 1
        if skipped > MAX_SLOTS:
            raise ValueError("too many missed slots")
