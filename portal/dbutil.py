"""Database helpers shared by services and jobs."""

from __future__ import annotations

from portal.extensions import db


def begin_write(*, keep_loaded: bool = False) -> None:
    """Start a write transaction on the session, committing any open one first.

    On SQLite this is ``BEGIN IMMEDIATE``: the write lock is taken at once (waiting
    up to the busy timeout), so a read-then-write use case cannot fail half-way
    because another process wrote in between. On PostgreSQL it is a plain BEGIN.

    ``keep_loaded``: the commit that ends the read transaction does not expire what the
    session has loaded, so the next attribute access is not a re-read inside the write
    transaction. Only for callers that then use values which never change once written
    (ids, uuids, a run's programme) or that a compare-and-set statement re-checks; the
    write transaction's own commit expires everything as usual.
    """
    session = db.session()  # the Session, not the scoped_session proxy
    if session.in_transaction():
        commit(keep_loaded=keep_loaded)
    session.connection(execution_options={"sqlite_immediate": True})


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
