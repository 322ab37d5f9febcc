"""Keyset pages for the lists that grow without bound (alerts, runs).

An OFFSET page reads and discards every row before it, and a ``COUNT(*)`` of the whole
filtered set runs on every request; both grow with the data. A keyset page instead
continues from the last row shown, ``(sort value, id) < (cursor)``, on an index
ordered the same way, and the count stops at :data:`COUNT_CAP` ("1,000+").

A cursor is the sort value (tagged with its kind: a time, text or a number) and id of a
boundary row, as an opaque URL-safe string; a cursor that does not parse, or that
another sort wrote, is ignored (the first page), never an error.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select, tuple_

from portal.extensions import db

#: Counts stop here: the pager says "1,000+" rather than count every row.
COUNT_CAP = 1000


@dataclass
class KeysetPage:
    """One keyset page: the rows, a bounded total, and cursors to the neighbours."""

    items: list[Any]
    per_page: int
    total: int
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @property
    def total_is_exact(self) -> bool:
        """Whether ``total`` is the full count (False: there are more than COUNT_CAP)."""
        return self.total <= COUNT_CAP

    @property
    def total_label(self) -> str:
        """The total as shown: ``"42"`` or ``"1,000+"``."""
        return f"{self.total:,}" if self.total_is_exact else f"{COUNT_CAP:,}+"


#: The kinds of sort value a cursor may carry, by the tag written before the value.
_CURSOR_KINDS: dict[type, str] = {datetime: "d", str: "s", int: "i"}


def encode_cursor(value: datetime | str | int, ident: int) -> str:
    """An opaque cursor for the row with sort ``value`` (a time, text or a number) and
    ``ident``."""
    kind = _CURSOR_KINDS[type(value) if type(value) in _CURSOR_KINDS else datetime]
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    raw = f"{kind}|{text}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type = datetime) -> tuple[Any, int] | None:
    """The ``(value, id)`` of a cursor whose value is of ``kind``, or None when absent,
    malformed or of another kind (a cursor from a list sorted by another column)."""
    if not cursor or len(cursor) > 300:  # a 40-character code in UTF-8 fits
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, rest = raw.split("|", 1)
        value, ident = rest.rsplit("|", 1)
        if tag != _CURSOR_KINDS.get(kind) or not _fits(ident):
            return None
        if kind is datetime:
            parsed = datetime.fromisoformat(value)
            return (parsed, int(ident)) if parsed.tzinfo is not None else None
        if kind is int:
            return (int(value), int(ident)) if _fits(value) else None
        return value, int(ident)
    except (ValueError, UnicodeDecodeError):
        return None


def _fits(number: str) -> bool:
    """Whether ``number`` is an integer an SQL INTEGER holds (a larger one is refused by
    PostgreSQL with an error, not compared)."""
    try:
        return -(2**31) <= int(number) < 2**31
    except ValueError:
        return False


def _bounded_count_statement(query: Select, id_column: Any, cap: int) -> Select:
    """Count the rows of ``query`` up to ``cap + 1`` (more than ``cap`` reads as "cap+")."""
    limited = query.with_only_columns(id_column).order_by(None).limit(cap + 1).subquery()
    return select(func.count()).select_from(limited)


@dataclass(frozen=True)
class _KeysetStatements:
    """A keyset list's statements for one query and order (see :func:`keyset_page`)."""

    count: Select
    first: Select  # the first page
    following: Select  # the page after a cursor (``cursor_value``, ``cursor_id``)
    preceding: Select  # the page before a cursor, read backwards


@lru_cache(maxsize=256)
def _keyset_statements(query: Select, sort_column: Any, id_column: Any,
                       ascending: bool, count_query: Select | None = None
                       ) -> _KeysetStatements:
    """Built once per query (itself built once per shape of filters by its list) and
    order, with the cursor and the page size as bound parameters; the count counts
    ``count_query`` (default: ``query``)."""
    key = tuple_(sort_column, id_column)
    cursor = tuple_(bindparam("cursor_value", type_=sort_column.type),
                    bindparam("cursor_id", type_=id_column.type))
    size = bindparam("page_size")

    def ordered(forwards: bool) -> tuple:
        up = forwards == ascending
        return ((sort_column.asc(), id_column.asc()) if up
                else (sort_column.desc(), id_column.desc()))

    def beyond(forwards: bool):  # rows after the cursor in reading direction
        return key > cursor if forwards == ascending else key < cursor

    count = _bounded_count_statement(query if count_query is None else count_query,
                                     id_column, COUNT_CAP)
    # Each row carries the bounded count: an uncorrelated sub-query, computed once per
    # statement, so a page costs one round trip instead of two.
    counted = query.add_columns(count.scalar_subquery().correlate(None).label("total"))
    return _KeysetStatements(
        count=count,
        first=counted.order_by(*ordered(True)).limit(size),
        following=counted.where(beyond(True)).order_by(*ordered(True)).limit(size),
        preceding=counted.where(beyond(False)).order_by(*ordered(False)).limit(size))


def keyset_page(query: Select, sort_column: Any, id_column: Any, *, after: str | None,
                before: str | None, per_page: int, ascending: bool = False,
                kind: type = datetime,
                value_of: Callable[[Any], Any] | None = None,
                params: dict[str, Any] | None = None,
                item_of: Callable[[Any], Any] | None = None,
                count_query: Select | None = None) -> KeysetPage:
    """Return a page of ``query`` ordered by ``(sort_column, id_column)``, newest first
    (or oldest first when ``ascending``).

    Args:
        query: the filtered, scoped ORM select (entities with ``sort_column`` / id),
            built once per shape of filters with bound parameters (its page and count
            statements are derived once per query and order, and kept).
        sort_column / id_column: the order (descending unless ``ascending``); the id
            breaks ties. Both directions read the same index, forwards or backwards.
        after: a cursor: the rows that follow it in this order (the next page).
        before: a cursor: the rows that precede it (the previous page), used when
            ``after`` is absent.
        per_page: rows per page.
        ascending: oldest first (smallest first); the id then breaks ties the same way.
        kind: the type of the sort value (``datetime``, ``str`` or ``int``): a cursor
            of another kind is ignored.
        value_of: the sort value of a row (default: the attribute named like
            ``sort_column``), for sort keys that are not the row's own column (a
            joined programme's code, a rank computed from a value).
        params: the values of ``query``'s bound parameters.
        item_of: what a page holds for each row read (default: its first column, the
            entity): for a query of plain columns, an object of them.
        count_query: the query whose rows are counted (default ``query``): the same
            rows without what ``query`` joins only to show them.

    Returns:
        A KeysetPage with a bounded total: one statement, whose rows carry the count (a
        second counts when a cursor leads past the rows).
    """
    statements = _keyset_statements(query, sort_column, id_column, ascending, count_query)
    item_of = item_of or (lambda row: row[0])
    params = {**(params or {}), "page_size": per_page + 1}
    counted: list[int] = []
    following = decode_cursor(after, kind)
    preceding = decode_cursor(before, kind) if not following else None
    value_of = value_of or (lambda row: getattr(row, sort_column.key))

    def cursor_of(row: Any) -> str:
        return encode_cursor(value_of(row), getattr(row, id_column.key))

    def page(statement: Select, cursor: tuple | None) -> list[Any]:
        values = {} if cursor is None else {"cursor_value": cursor[0], "cursor_id": cursor[1]}
        rows = db.session.execute(statement, {**params, **values}).unique().all()
        if rows:
            counted.append(rows[0].total)
        elif cursor is not None:  # no row carries the count: past either end, count apart
            counted.append(db.session.scalar(statements.count, params) or 0)
        return [item_of(row) for row in rows]

    def total() -> int:
        return counted[0] if counted else 0

    if preceding:
        rows = page(statements.preceding, preceding)
        more_before = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return KeysetPage(rows, per_page, total(),
                          next_cursor=cursor_of(rows[-1]) if rows else None,
                          prev_cursor=cursor_of(rows[0]) if rows and more_before else None)
    if following:
        rows = page(statements.following, following)
    else:
        rows = page(statements.first, None)
    more_after = len(rows) > per_page
    rows = rows[:per_page]
    return KeysetPage(rows, per_page, total(),
                      next_cursor=cursor_of(rows[-1]) if rows and more_after else None,
                      prev_cursor=cursor_of(rows[0]) if rows and following else None)
