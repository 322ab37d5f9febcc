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
from tests.factories import gen_programme, gen_run

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


def _questions() -> int:
    """How often a standby readied in full asks whether its job is there: after it
    connected, at both rehearsed steps, and (PostgreSQL only) before the real
    transaction that follows the rehearsal."""
    return 3 if db.engine.dialect.name == "sqlite" else 4


def test_a_standby_readied_in_full_asked_at_every_phase(app):
    asked = []
    assert warm_horse(app, lambda: asked.append(True) or False) is True
    assert len(asked) == _questions()


@pytest.mark.parametrize("answers_before_the_job", range(5))
def test_a_job_arriving_cuts_the_standby_warm_up_short_and_leaves_nothing(
        app, answers_before_the_job):
    """Once the job is there the standby readies nothing more (it does not ask again),
    and what it began is rolled back."""
    before = _counts()
    asked = []

    def job_waiting() -> bool:
        asked.append(True)
        return len(asked) > answers_before_the_job

    readied_in_full = warm_horse(app, job_waiting)

    assert len(asked) == min(_questions(), answers_before_the_job + 1)
    assert readied_in_full is (answers_before_the_job >= _questions())
    assert _counts() == before
    assert list(Path(app.config["WORK_ROOT"]).iterdir()) == []


def test_after_a_cut_short_rehearsal_a_real_run_succeeds(app):
    """The rehearsal stopped inside its first step (its transaction rolled back mid-run):
    the horse's session and connection still serve the real run that follows."""
    from jobs.tasks import execute_run
    from tests.engine.steps import pipeline

    before_first_step = 1  # after it connected
    asked = []
    assert warm_horse(app, lambda: asked.append(True) or len(asked) > before_first_step) \
        is False
    assert len(asked) == before_first_step + 1
    programme = gen_programme(pipeline_definition_json=pipeline(("one", "test.noop")))
    run = gen_run(programme, status="queued")
    execute_run(run.id)
    db.session.rollback()
    assert db.session.get(MonitoringProgrammeRun, run.id,
                          populate_existing=True).status == "succeeded"


def test_scratch_folders_of_workers_gone_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    """A worker killed outright runs no exit handler: its scratch folder is removed by
    the next worker that creates one; a running worker's folder is left alone."""
    import os
    import subprocess
    import sys
    import tempfile

    from jobs.warmup import SCRATCH_PREFIX, remove_stale_scratch_folders

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dead = tmp_path / f"{SCRATCH_PREFIX}{gone}-abc123"
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def456"
    other = tmp_path / "programme-ops-something-else"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "rehearsal.sqlite3").write_bytes(b"x")

    assert remove_stale_scratch_folders() == [dead]
    assert not dead.exists() and live.exists() and other.exists()
