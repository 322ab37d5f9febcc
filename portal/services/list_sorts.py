"""The sortable columns of the keyset lists (runs, alerts).

A keyset list is read in the order ``(sort key, id)``, both the same way, and each page
continues from the last row shown (``services.paging``). A sort is named in the query
string as the key (smallest first) or ``-key`` (largest first); a name this module does
not know means the list's default order, never an error. Ties within one value are in
id order, so an ascending status sort lists each status oldest first and the
descending one newest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case

from portal.models import MonitoringProgramme, MonitoringProgrammeAlert, MonitoringProgrammeRun
from portal.models.alerts import SEVERITIES

Run = MonitoringProgrammeRun
Alert = MonitoringProgrammeAlert


@dataclass(frozen=True)
class SortKey:
    """One sortable column of a keyset list.

    Attributes:
        column: the SQL expression ordered by.
        kind: the Python type of its value (what a cursor carries).
        value_of: the value for a loaded row when it is not the row's own attribute.
        joins_programme: the column is the programme's, so the page joins programmes.
    """

    column: Any
    kind: type = str
    value_of: Callable[[Any], Any] | None = None
    joins_programme: bool = False


#: Severity by rank (info < warning < error < critical), not alphabetically.
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

RUN_SORTS: dict[str, SortKey] = {
    "queued": SortKey(Run.queued_at, datetime),
    "status": SortKey(Run.status),
    "trigger": SortKey(Run.trigger),
    "programme": SortKey(MonitoringProgramme.code, value_of=lambda run: run.programme.code,
                         joins_programme=True),
}
RUN_DEFAULT_SORT = "-queued"

ALERT_SORTS: dict[str, SortKey] = {
    "seen": SortKey(Alert.last_seen_at, datetime),
    "severity": SortKey(case(SEVERITY_RANK, value=Alert.severity, else_=-1), int,
                        value_of=lambda alert: SEVERITY_RANK.get(alert.severity, -1)),
    "state": SortKey(Alert.state),
    "programme": SortKey(MonitoringProgramme.code, value_of=lambda alert: alert.programme.code,
                         joins_programme=True),
}
ALERT_DEFAULT_SORT = "-seen"


def known_sort(value: str | None, sorts: dict[str, SortKey]) -> str:
    """``value`` when it names a sort of ``sorts`` (``key`` or ``-key``), else ``""``."""
    value = (value or "").strip()[:30]
    return value if value.lstrip("-") in sorts and value.count("-") <= 1 else ""


def sort_parts(sort: str, sorts: dict[str, SortKey], default: str) -> tuple[SortKey, bool]:
    """The sort key and whether it ascends, for a sort name (``""`` is ``default``)."""
    name = sort or default
    key = sorts.get(name.lstrip("-")) or sorts[default.lstrip("-")]
    return key, not name.startswith("-")


def join_for(query: Select, key: SortKey, programme_id: Any) -> Select:
    """Join the programmes when ``key`` orders by a programme's column."""
    if key.joins_programme:
        return query.join(MonitoringProgramme, MonitoringProgramme.id == programme_id)
    return query
