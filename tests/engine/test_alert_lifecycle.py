"""Alerts through real runs: a failing rule opens one alert, a repeat counts an occurrence,
a dry run opens nothing, and a later passing run resolves it automatically (audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeAlert
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_user

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("worker")]

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "counts/counts.csv"}},
    {"key": "validate", "type": "validate.rules"},
]}
RULES = {"rules": [{"id": "count-positive", "type": "range", "severity": "warning",
                    "column": "count", "min": 1}]}


def write_counts(roots, programme, rows: list[str]) -> None:
    folder = roots / "data" / programme.code / "counts"  # the programme's own folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counts.csv").write_text("site,taxon,count\n" + "\n".join(rows) + "\n")


def alerts() -> list[MonitoringProgrammeAlert]:
    db.session.rollback()
    return list(db.session.scalars(select(MonitoringProgrammeAlert)
                                   .execution_options(populate_existing=True)))


def test_alert_opens_counts_and_resolves_itself(app, engine_roots):
    programme = gen_programme(pipeline_definition_json=PIPELINE, data_quality_rules_json=RULES)
    user = gen_user()
    write_counts(engine_roots, programme, ["A,Parus major,3", "B,Parus major,-2"])

    first = wait_final(queue_run(programme, user).run.id)
    assert first.status == "succeeded"  # a warning never blocks
    (alert,) = alerts()
    assert (alert.rule_id, alert.state, alert.occurrence_count) == ("count-positive", "open", 1)

    dry = wait_final(queue_run(programme, user, dry_run=True).run.id)
    assert dry.status == "succeeded"
    assert [a.occurrence_count for a in alerts()] == [1]  # a dry run touches no alert

    wait_final(queue_run(programme, user).run.id)
    (alert,) = alerts()
    assert alert.occurrence_count == 2 and alert.state == "open"

    write_counts(engine_roots, programme, ["A,Parus major,3", "B,Parus major,2"])
    fixed = wait_final(queue_run(programme, user).run.id)
    (alert,) = alerts()
    assert alert.state == "resolved" and fixed.uuid in alert.resolved_note
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert_auto_resolved"))
    assert event is not None and event.metadata_json["run"] == fixed.uuid
