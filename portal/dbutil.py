"""Database helpers shared by services and jobs."""

from __future__ import annotations

from portal.extensions import db

#: Set on a PostgreSQL connection's info by a statement that may write; cleared when its
#: transaction ends (``portal._track_writes``).
WROTE = "programme_ops_wrote"


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


def commit(*, keep_loaded: bool = False) -> None:
    """Commit the session; with ``keep_loaded``, without expiring what it has loaded.

    Only for a caller that knows what it keeps is still true: it wrote only through
    Core statements on rows it does not hold, or it sets the values it wrote on the
    objects itself (``services.runs.transition``).
    """
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = expire and not keep_loaded
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
