"""The worker's rehearsal (``jobs.warmup``): a throw-away run taken through the real
runner, then rolled back — it must succeed, and leave no row, event or file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from jobs.warmup import rehearse_run, scratch_database, warm_horse
from portal.extensions import db
from portal.models import (
    AuditEvent,
    MonitoringProgramme,
    MonitoringProgrammeRun,
    MonitoringProgrammeRunStep,
)
from tests.conftest import IS_POSTGRES
from tests.factories import gen_programme

COUNTED = (MonitoringProgramme, MonitoringProgrammeRun, MonitoringProgrammeRunStep, AuditEvent)


def _counts() -> dict[str, int]:
    counts = {model.__name__: db.session.scalar(select(func.count()).select_from(model))
              for model in COUNTED}
    db.session.rollback()
    return counts


def test_rehearsal_runs_a_real_run_and_leaves_nothing(app):
    gen_programme(code="KEPT")  # a real programme: untouched, and still the only one
    before = _counts()

    assert rehearse_run(app) is True  # the rehearsed run succeeded through execute()

    assert _counts() == before
    assert db.session.scalars(select(MonitoringProgramme.code)).all() == ["KEPT"]
    assert list(Path(app.config["WORK_ROOT"]).iterdir()) == []  # its work files removed


def test_standby_warm_up_leaves_nothing(app):
    before = _counts()
    warm_horse(app)  # PostgreSQL: the real database; SQLite: the scratch one
    assert _counts() == before
    assert list(Path(app.config["WORK_ROOT"]).iterdir()) == []


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite only: PostgreSQL rehearses in its own "
                    "database, rolled back")
def test_sqlite_rehearsal_uses_a_private_database(app):
    scratch = scratch_database(app)
    assert scratch.url.database != db.engine.url.database
    assert rehearse_run(app, scratch) is True
    with scratch.connect() as connection:  # rolled back there too
        assert connection.scalar(select(func.count()).select_from(
            MonitoringProgrammeRun.__table__)) == 0
