"""Cadence arithmetic: month ends, leap years, daylight saving, cron, unscheduled cadences."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from portal.services.cadence import (
    cadence_error,
    due_slots,
    is_schedulable,
    next_run_after,
    timezone_error,
)

MADRID = ZoneInfo("Europe/Madrid")


def walk(cadence: str, zone: str, anchor: datetime, count: int) -> list[datetime]:
    slots, slot = [], anchor.astimezone(UTC)
    for _ in range(count):
        slot = next_run_after(cadence, zone, after=slot, anchor=anchor)
        slots.append(slot)
    return slots


def test_monthly_clamps_at_month_end_without_drifting():
    anchor = datetime(2024, 1, 31, 6, tzinfo=UTC)
    assert [s.date().isoformat() for s in walk("monthly", "UTC", anchor, 4)] == [
        "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]


def test_quarterly_from_a_month_end():
    anchor = datetime(2023, 11, 30, tzinfo=UTC)
    assert [s.date().isoformat() for s in walk("quarterly", "UTC", anchor, 2)] == [
        "2024-02-29", "2024-05-30"]


def test_annual_on_a_leap_day_returns_to_feb_29_in_leap_years():
    anchor = datetime(2024, 2, 29, tzinfo=UTC)
    assert [s.date().isoformat() for s in walk("annual", "UTC", anchor, 4)] == [
        "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"]


def test_daily_keeps_local_wall_clock_time_across_spring_forward():
    anchor = datetime(2025, 3, 28, 6, tzinfo=MADRID)
    slots = walk("daily", "Europe/Madrid", anchor, 3)
    assert [s.astimezone(MADRID).hour for s in slots] == [6, 6, 6]
    assert [s.hour for s in slots] == [5, 4, 4]  # UTC+1 before 30 March, UTC+2 after


def test_weekly_across_autumn_fall_back():
    anchor = datetime(2025, 10, 20, 9, 30, tzinfo=MADRID)
    slot = next_run_after("weekly", "Europe/Madrid", after=anchor.astimezone(UTC),
                          anchor=anchor)
    assert slot.astimezone(MADRID) == datetime(2025, 10, 27, 9, 30, tzinfo=MADRID)
    assert slot == datetime(2025, 10, 27, 8, 30, tzinfo=UTC)


def test_cron_is_evaluated_in_the_programme_time_zone():
    zone = "America/New_York"
    after = datetime(2025, 3, 3, 12, tzinfo=UTC)  # Monday, before the 9 March DST change
    slots, slot = [], after
    for _ in range(2):
        slot = next_run_after("0 6 * * 1", zone, after=slot)
        slots.append(slot)
    assert slots == [datetime(2025, 3, 10, 10, tzinfo=UTC), datetime(2025, 3, 17, 10, tzinfo=UTC)]


@pytest.mark.parametrize("cadence", ["manual", "ad_hoc"])
def test_manual_and_ad_hoc_are_never_due(cadence):
    assert not is_schedulable(cadence)
    assert next_run_after(cadence, "UTC", after=datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert cadence_error(cadence) is None


def test_missed_slots_are_coalesced_into_the_newest():
    first_due = datetime(2025, 1, 1, 6, tzinfo=UTC)
    slots = due_slots("daily", "UTC", first_due, datetime(2025, 1, 4, 7, tzinfo=UTC))
    assert slots.slot == datetime(2025, 1, 4, 6, tzinfo=UTC)
    assert slots.skipped == 3
    assert slots.next_slot == datetime(2025, 1, 5, 6, tzinfo=UTC)


def test_a_slot_due_exactly_now_is_due():
    now = datetime(2025, 6, 1, 6, tzinfo=UTC)
    slots = due_slots("weekly", "UTC", now, now)
    assert (slots.slot, slots.skipped) == (now, 0)
    assert slots.next_slot == datetime(2025, 6, 8, 6, tzinfo=UTC)


def test_invalid_cadences_and_zones_are_named():
    assert "every tuesday" in cadence_error("every tuesday")
    assert cadence_error("*/15 * * * *") is None
    assert "Mars/Olympus" in timezone_error("Mars/Olympus")
    assert timezone_error("Europe/Madrid") is None
