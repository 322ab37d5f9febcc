"""Database helpers shared by services and jobs."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.orm import Session

from portal.extensions import db

#: A write whose result nobody reads: a statement and its parameters (see ``commit``).
Write = tuple[Executable, dict[str, Any]]

#: Set on a PostgreSQL connection's info by a statement that may write; cleared when its
#: transaction ends (``portal._track_writes``).
WROTE = "programme_ops_wrote"
#: Set on a PostgreSQL connection's info while a page request reads without a transaction
#: (``portal._track_writes``); its first statement that may write starts one.
READING = "programme_ops_reading"


def begin_write(*, keep_loaded: bool = False) -> None:
    """Start a write transaction on the session, committing any open one first.

    On SQLite this is ``BEGIN IMMEDIATE``: the write lock is taken at once (waiting
    up to the busy timeout), so a read-then-write use case cannot fail half-way
    because another process wrote in between. On PostgreSQL it is a plain BEGIN; an
    open transaction that has only read (no statement that may write, nothing pending
    in the session) simply goes on as the write transaction — under READ COMMITTED each
    statement sees what is committed when it runs, so committing it first would only
    cost two round trips.

    ``keep_loaded``: the commit that ends the read transaction does not expire what the
    session has loaded, so the next attribute access is not a re-read inside the write
    transaction. Only for callers that then use values which never change once written
    (ids, uuids, a run's programme) or that a compare-and-set statement re-checks; the
    write transaction's own commit expires everything as usual.
    """
    session = db.session()  # the Session, not the scoped_session proxy
    if session.in_transaction():
        if _only_read(session):
            if not keep_loaded:
                session.expire_all()  # as the commit would have
            return
        commit(keep_loaded=keep_loaded)
    session.connection(execution_options={"sqlite_immediate": True})


def _only_read(session) -> bool:
    """Whether the session's open PostgreSQL transaction has only read."""
    if session.get_bind().dialect.name == "sqlite" or session.new or session.dirty \
            or session.deleted:
        return False
    return not session.connection().info.get(WROTE)


def commit(*, keep_loaded: bool = False, writes: Iterable[Write] = ()) -> None:
    """Commit the session; with ``keep_loaded``, without expiring what it has loaded.

    ``keep_loaded`` is only for a caller that knows what it keeps is still true: it
    wrote only through Core statements on rows it does not hold, or it sets the values
    it wrote on the objects itself (``services.runs.transition``).

    ``writes`` are executed first, in the transaction and in their order: the last
    writes of a transaction, whose results nobody reads (no RETURNING, no row count).
    On PostgreSQL they go with the COMMIT in one round trip (psycopg's pipeline mode:
    each statement is sent without waiting for the reply to the one before; the server
    still executes them in order, and a failure raises from the commit, which then
    rolls back as any failed commit does). On SQLite, in-process, they simply run.
    """
    session = db.session()
    writes = list(writes)
    if not writes:
        _commit(session, keep_loaded)
        return
    session.flush()  # pending ORM changes first: a flush reads results (ids, row counts)
    connection = session.connection()
    with (connection.connection.driver_connection.pipeline()
          if connection.dialect.name == "postgresql" else nullcontext()):
        execute_all(writes)
        _commit(session, keep_loaded)


def execute_all(writes: Iterable[Write]) -> None:
    """Execute ``writes`` now, in the session's transaction and in their order."""
    for statement, params in writes:
        db.session.execute(statement, params)


def _commit(session: Session, keep_loaded: bool) -> None:
    expire = session.expire_on_commit
    session.expire_on_commit = expire and not keep_loaded
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
