"""Pooled PostgreSQL connections are pinged before use only after being idle
(DB_PING_AFTER_IDLE_SECONDS): one the server dropped meanwhile is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.extensions import db
from tests.conftest import DATABASE_URL, IS_POSTGRES

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server connection")


def _backend_pid() -> int:
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.rollback()  # back to the pool
    return pid


def _terminate(pid: int) -> None:
    """Drop a backend from the server side, as a database restart would."""
    engine = create_engine(DATABASE_URL)
    with engine.begin() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    engine.dispose()


def _app(idle_seconds: float):
    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": DATABASE_URL,
                                   "DB_PING_AFTER_IDLE_SECONDS": idle_seconds})


def test_an_idle_connection_the_server_dropped_is_replaced_before_use():
    with _app(0).app_context():
        first = _backend_pid()
        _terminate(first)

        second = _backend_pid()  # no error: the ping found it dead, the pool reconnected

        assert second != first
        db.engine.dispose()


def test_a_connection_used_moments_ago_is_not_pinged():
    with _app(3600).app_context():
        first = _backend_pid()
        _terminate(first)

        # Within the idle window nothing is pinged: the dead connection is only found
        # by the statement itself, and the pool then replaces it.
        with pytest.raises(OperationalError):
            _backend_pid()
        db.session.rollback()
        assert _backend_pid() != first
        db.engine.dispose()
