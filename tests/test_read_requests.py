"""Page requests (GET, HEAD) read PostgreSQL outside a transaction, and a GET that does
write still writes in one transaction: all of it or none of it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import AuditEvent
from portal.services import audit
from tests.conftest import IS_POSTGRES

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="SQLite reads in its own way")


@pytest.fixture
def probe(app):
    """Routes of this test alone: two reads apart in time, and reads then writes."""
    def two_reads():
        first = db.session.scalar(text("SELECT now()"))
        time.sleep(0.005)
        second = db.session.scalar(text("SELECT now()"))
        autocommit = db.session.connection().connection.dbapi_connection.autocommit
        return {"apart": first != second, "autocommit": autocommit}

    def read_then_write(fail: str):
        db.session.scalar(select(func.count()).select_from(AuditEvent))  # a read first
        audit.record("probe_one", object_type="probe", object_id="1")
        audit.record("probe_two", object_type="probe", object_id="2")
        if fail == "yes":
            raise RuntimeError("the request fails after writing")
        db.session.commit()
        return {"written": 2}

    app.add_url_rule("/_probe/reads", "probe_reads", two_reads)
    app.add_url_rule("/_probe/writes/<fail>", "probe_writes", read_then_write,
                     methods=["GET", "POST"])
    db.session.commit()  # the test's own session holds no transaction when a request comes
    return app.test_client()


def _probes() -> int:
    db.session.rollback()
    count = db.session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.object_type == "probe"))
    db.session.rollback()
    return count


def test_a_page_request_reads_outside_a_transaction(probe):
    body = probe.get("/_probe/reads").json
    # Each statement is its own transaction: now() moves between statements.
    assert body == {"apart": True, "autocommit": True}
    db.session.rollback()
    assert db.session.connection().connection.dbapi_connection.autocommit is False  # restored


def test_a_get_that_writes_writes_everything_or_nothing(probe):
    probe.application.config["PROPAGATE_EXCEPTIONS"] = False
    assert probe.get("/_probe/writes/yes").status_code == 500
    assert _probes() == 0  # the failed request's two writes are both gone
    assert probe.get("/_probe/writes/no").json == {"written": 2}
    assert _probes() == 2
    assert probe.post("/_probe/writes/yes").status_code in (400, 500)
    assert _probes() == 2


def test_a_request_that_reads_nothing_takes_no_connection(probe, app):
    """A static file is served without a database connection; a page takes one."""
    from sqlalchemy import event

    checkouts = []

    def count(*args):
        checkouts.append(1)

    event.listen(db.engine, "checkout", count)
    try:
        assert probe.get("/static/portal.css").status_code == 200
        assert checkouts == []
        assert probe.get("/_probe/reads").status_code == 200
        assert checkouts == [1]
    finally:
        event.remove(db.engine, "checkout", count)
