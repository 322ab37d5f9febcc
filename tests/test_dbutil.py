"""``dbutil.begin_write``: what an open transaction becomes when a write starts."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme
from tests.conftest import IS_POSTGRES
from tests.factories import gen_programme


def _transaction_started() -> object:
    """When the current transaction began (``now()`` is constant within one)."""
    return db.session.scalar(text("SELECT now()" if IS_POSTGRES else "SELECT 1"))


def test_work_done_before_a_write_transaction_is_committed_by_it(app):
    gen_programme(code="EARLY")
    db.session.commit()
    db.session.execute(text("UPDATE monitoring_programmes SET title = 'changed' "
                            "WHERE code = 'EARLY'"))
    begin_write()  # the earlier write is committed first...
    db.session.rollback()  # ...so rolling back the write transaction keeps it
    assert db.session.scalar(select(MonitoringProgramme.title)
                             .where(MonitoringProgramme.code == "EARLY")) == "changed"


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite commits and takes its write lock")
def test_a_transaction_that_only_read_goes_on_as_the_write_on_postgresql(app):
    programme = gen_programme(code="READS")
    db.session.commit()
    started = _transaction_started()
    assert db.session.get(MonitoringProgramme, programme.id).title
    begin_write(keep_loaded=True)
    assert _transaction_started() == started  # the same transaction: no commit, no BEGIN
    db.session.rollback()


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL only")
def test_a_locking_read_is_committed_before_the_write_on_postgresql(app):
    programme = gen_programme(code="LOCKED")
    db.session.commit()
    started = _transaction_started()
    db.session.scalar(select(MonitoringProgramme.id)
                      .where(MonitoringProgramme.id == programme.id).with_for_update())
    begin_write()  # the row lock is released with its transaction, as before
    assert _transaction_started() != started
    db.session.rollback()


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL only")
def test_pending_changes_are_committed_before_the_write_on_postgresql(app):
    programme = gen_programme(code="PENDING")
    db.session.commit()
    db.session.get(MonitoringProgramme, programme.id).title = "pending"
    begin_write()
    db.session.rollback()
    assert db.session.get(MonitoringProgramme, programme.id).title == "pending"
