"""Database helpers shared by services and jobs."""

from __future__ import annotations

from portal.extensions import db


def begin_write() -> None:
    """Start a write transaction on the session, committing any open one first.

    On SQLite this is ``BEGIN IMMEDIATE``: the write lock is taken at once (waiting
    up to the busy timeout), so a read-then-write use case cannot fail half-way
    because another process wrote in between. On PostgreSQL it is a plain BEGIN.
    """
    if db.session().in_transaction():  # the Session, not the scoped_session proxy
        db.session.commit()
    db.session.connection(execution_options={"sqlite_immediate": True})
