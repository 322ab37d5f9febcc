"""What the list pages share: one page of results, and a date range read from the query
string (bad dates are reported, not fatal) applied to a timestamp column as UTC days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select


@dataclass
class Page:
    """One page of results."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """The number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


@dataclass
class DateRangeFilters:
    """Base for filter sets with ``date_from`` / ``date_to`` (inclusive, UTC days)."""

    date_from: date | None = None
    date_to: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def read_dates(self, args: Any) -> None:
        """Read the dates from ``request.args``; a bad one goes to ``errors``, not the filter."""
        for name in ("date_from", "date_to"):
            raw = (args.get(name) or "").strip()
            if raw:
                try:
                    setattr(self, name, date.fromisoformat(raw))
                except ValueError:
                    self.errors[name] = f"{raw!r} is not a date (YYYY-MM-DD)"

    def date_args(self) -> dict[str, str]:
        """The dates as query-string values (empty when unset)."""
        return {"date_from": self.date_from.isoformat() if self.date_from else "",
                "date_to": self.date_to.isoformat() if self.date_to else ""}

    def date_bounds(self) -> tuple[datetime | None, datetime | None]:
        """The range as UTC instants: from the start of ``date_from`` (inclusive) to the
        start of the day after ``date_to`` (exclusive); None for an open end."""
        start = datetime.combine(self.date_from, time(), UTC) if self.date_from else None
        end = (datetime.combine(self.date_to + timedelta(days=1), time(), UTC)
               if self.date_to else None)
        return start, end

    def apply_dates(self, query: Select, column: Any) -> Select:
        """Restrict ``query`` to rows whose ``column`` falls within the range."""
        start, end = self.date_bounds()
        if start is not None:
            query = query.where(column >= start)
        if end is not None:
            query = query.where(column < end)
        return query
