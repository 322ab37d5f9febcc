"""``dbutil.begin_write``: what an open transaction becomes when a write starts."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import IntegrityError

from portal.dbutil import begin_write, commit
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme
from portal.services import audit
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


# ``dbutil.commit(writes=...)``: a transaction's last writes go with its COMMIT (on
# PostgreSQL in one round trip, pipeline mode); they behave as if executed one by one.

_PROGRAMMES = MonitoringProgramme.__table__


def _retitle(code: str, title: str):
    return (update(_PROGRAMMES).where(_PROGRAMMES.c.code == bindparam("c"))
            .values(title=bindparam("t")), {"c": code, "t": title})


def _title(code: str) -> str | None:
    title = db.session.scalar(select(MonitoringProgramme.title)
                              .where(MonitoringProgramme.code == code))
    db.session.rollback()
    return title


def test_writes_go_with_the_commit_in_their_order(app):
    gen_programme(code="W1")
    gen_programme(code="W2")
    begin_write()
    db.session.get(MonitoringProgramme, db.session.scalar(
        select(MonitoringProgramme.id).where(MonitoringProgramme.code == "W2"))).title = "orm"
    commit(writes=[_retitle("W1", "first"), _retitle("W1", "second"),
                   audit.event("test_tail_event", object_type="programme", object_id="W1")])
    assert _title("W1") == "second"  # executed in order, and committed
    assert _title("W2") == "orm"  # a pending ORM change is flushed and committed with them
    assert db.session.scalar(select(AuditEvent.object_id)
                             .where(AuditEvent.action == "test_tail_event")) == "W1"


def test_a_failing_write_fails_the_commit_and_keeps_nothing(app):
    gen_programme(code="KEEP")
    gen_programme(code="TAKEN")
    begin_write()
    db.session.execute(*_retitle("KEEP", "written before"))
    duplicate = (update(_PROGRAMMES).where(_PROGRAMMES.c.code == "KEEP")
                 .values(code="TAKEN"), {})
    with pytest.raises(IntegrityError):  # SQLAlchemy's error, as from any statement
        commit(writes=[_retitle("KEEP", "in the tail"), duplicate])
    db.session.rollback()
    assert _title("KEEP") not in ("written before", "in the tail")
    begin_write()  # the session (and its connection) works on
    commit(writes=[_retitle("KEEP", "after")])
    assert _title("KEEP") == "after"
