"""A user's own display preferences: the time zone they read times in.

The portal shows every time by one rule (docs/api.md, "Times"): in the viewer's chosen
time zone when they have chosen one; otherwise a programme's own times in that
programme's zone and the portal's own records in UTC. This module keeps the choice;
``portal.template_helpers`` applies it.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import User
from portal.services import DomainError, audit

DEFAULT_LABEL = "Default (programme's zone / UTC)"


#: Names the time zone database holds that are not places: the server's own local time
#: ("localtime", which differs per host) and tzdata's placeholder "Factory".
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA time zone this host knows, sorted (``zoneinfo.available_timezones``)."""
    return tuple(sorted(available_timezones() - NOT_ZONES))


def time_zone_error(value: str) -> str | None:
    """Return why ``value`` is not a time zone a user may choose, or None.

    Only exact names from :func:`time_zone_names` are accepted, so nothing typed
    reaches the file system (``ZoneInfo`` would read a path named by it).
    """
    if value in time_zone_names():
        return None
    shown = value.replace("\x00", "\\0")
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    return f"{shown!r} is not a known time zone: choose one from the list, e.g. Europe/Madrid"


def set_time_zone(user: User, value: str | None) -> bool:
    """Set the zone ``user`` reads times in (audited as ``user_time_zone_changed``).

    Args:
        user: the signed-in user, changing their own preference.
        value: an IANA zone name; ``None`` or ``""`` returns to the default rule.

    Returns:
        Whether anything changed (choosing the current value records nothing).

    Raises:
        DomainError: naming ``time_zone`` when the value is not a known zone.
    """
    chosen = value or None
    if chosen is not None and (problem := time_zone_error(chosen)):
        raise DomainError(problem, field="time_zone")
    if chosen == user.time_zone:
        return False
    before = user.time_zone
    begin_write()
    user.time_zone = chosen
    audit.record("user_time_zone_changed", actor=user, object_type="user", object_id=user.id,
                 metadata=audit.diff({"time_zone": before}, {"time_zone": chosen}))
    db.session.commit()
    return True
