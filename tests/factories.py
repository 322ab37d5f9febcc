"""Small ``gen_*`` factories for tests (CTFd style): each commits and returns the row.

Each starts with ``begin_write()``: workers and the scheduler write to the test
database from other processes, and on SQLite a transaction left open by an earlier read
cannot become a write once another process has committed since ("database is locked"
at once, whatever the busy timeout). The write lock is taken before the row is built,
so every read the factory makes happens inside.
"""

from __future__ import annotations

import itertools
from typing import Any

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import (
    Institution,
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    MonitoringProgrammeSteward,
    User,
)

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def gen_user(email: str | None = None, *, is_admin: bool = False, active: bool = True,
             institutions: list[Institution] | None = None) -> User:
    """A user whose password is ``PASSWORD``."""
    begin_write()
    n = next(_counter)
    user = User(email=email or f"user{n}@example.org", name=f"User {n}", is_admin=is_admin,
                active=active)
    user.set_password(PASSWORD)
    user.institutions = institutions or []
    db.session.add(user)
    db.session.commit()
    return user


def gen_institution(code: str | None = None) -> Institution:
    """An institution."""
    begin_write()
    n = next(_counter)
    inst = Institution(name=f"Institution {code or n}", code=code or f"INST{n}")
    db.session.add(inst)
    db.session.commit()
    return inst


def gen_programme(code: str | None = None, *, institutions: list[Institution] | None = None,
                  **fields: Any) -> MonitoringProgramme:
    """A programme with a trivial pipeline."""
    begin_write()
    n = next(_counter)
    programme = MonitoringProgramme(
        code=code or f"PROG-{n}",
        title=fields.pop("title", f"Programme {n}"),
        pipeline_definition_json=fields.pop("pipeline_definition_json", {"steps": []}),
        data_quality_rules_json=fields.pop("data_quality_rules_json", {"rules": []}),
        # Releases need a declared licence (jobs.licences); tests of its absence pass "".
        licence=fields.pop("licence", "CC0-1.0"),
        operating_institutions=institutions or [],
        **fields,
    )
    db.session.add(programme)
    db.session.commit()
    return programme


def gen_steward(programme: MonitoringProgramme, user: User, role: str,
                active: bool = True) -> MonitoringProgrammeSteward:
    """Assign ``user`` a ``role`` on ``programme``."""
    begin_write()
    steward = MonitoringProgrammeSteward(programme_id=programme.id, user_id=user.id, role=role,
                                         is_active=active)
    db.session.add(steward)
    db.session.commit()
    return steward


def gen_run(programme: MonitoringProgramme, *, status: str = "succeeded",
            **fields: Any) -> MonitoringProgrammeRun:
    """A run row (no job is enqueued)."""
    begin_write()
    run = MonitoringProgrammeRun(programme_id=programme.id, status=status, **fields)
    db.session.add(run)
    db.session.flush()
    _keep_summary(programme)
    return run


def _keep_summary(programme: MonitoringProgramme) -> None:
    """Commit, with the programme's latest-run / open-alert summary recomputed as the
    services keep it (these factories insert rows the services would have written)."""
    from portal.services import programme_summary

    programme_summary.refresh([programme.id])
    db.session.commit()


def gen_alert(programme: MonitoringProgramme, *, rule_id: str = "rule-1",
              severity: str = "error", state: str = "open", **fields: Any
              ) -> MonitoringProgrammeAlert:
    """An alert."""
    begin_write()
    alert = MonitoringProgrammeAlert(programme_id=programme.id, rule_id=rule_id,
                                     severity=severity, state=state,
                                     message=fields.pop("message", f"{rule_id} failed"), **fields)
    db.session.add(alert)
    db.session.flush()
    _keep_summary(programme)
    return alert
