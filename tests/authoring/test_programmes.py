"""Create, clone and archive programmes."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme, MonitoringProgrammeSteward
from tests.factories import (
    gen_alert,
    gen_institution,
    gen_programme,
    gen_run,
    gen_steward,
    gen_user,
)

PIPELINE = {"steps": [{"key": "ingest", "type": "ingest.csv", "params": {"source": "x.csv"}}]}
RULES = {"rules": [{"id": "r1", "type": "not_null", "severity": "error", "column": "a"}]}


def form(**values):
    base = {"code": "NEW-PROG", "title": "New programme", "description": "", "timezone": "UTC",
            "refresh_cadence": "manual", "stewards": ""}
    base.update(values)
    return base


def test_owner_creates_a_programme_and_becomes_owner(app, client, auth):
    inst = gen_institution("IBAT")
    owner = gen_user("owner@x.org", institutions=[inst])
    gen_steward(gen_programme("EXISTING"), owner, "owner")
    reviewer = gen_user("rev@x.org")
    auth.login("owner@x.org")
    assert client.get("/programmes/new").status_code == 200
    response = auth.post("/programmes/new", form(
        institutions=[inst.id], refresh_cadence="monthly", timezone="Europe/Madrid",
        scheduler_enabled="y", stewards="rev@x.org reviewer"))
    assert response.status_code == 302, response.get_data(as_text=True)
    programme = db.session.scalar(select(MonitoringProgramme)
                                  .where(MonitoringProgramme.code == "NEW-PROG"))
    assert [i.code for i in programme.operating_institutions] == ["IBAT"]
    assert programme.next_run_at is not None
    roles = {(s.user_id, s.role) for s in db.session.scalars(
        select(MonitoringProgrammeSteward).where(
            MonitoringProgrammeSteward.programme_id == programme.id))}
    assert roles == {(owner.id, "owner"), (reviewer.id, "reviewer")}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "programme_created"))
    assert client.get("/programmes/NEW-PROG").status_code == 200


def test_create_names_the_field_at_fault(app, client, auth):
    gen_user("root@x.org", is_admin=True)
    gen_programme("TAKEN")
    auth.login("root@x.org")
    cases = [
        (form(code="bad code!"), "capital letters"),
        (form(code="TAKEN"), "already exists"),
        (form(timezone="Mars/Olympus"), "not a known time zone"),
        (form(refresh_cadence="fortnightly-ish"), "cron expression"),
        (form(stewards="nobody@x.org steward"), "No active user"),
        (form(stewards="just-one-word"), "write an e-mail and a role"),
    ]
    for data, message in cases:
        response = auth.post("/programmes/new", data)
        assert response.status_code in (400, 409), data
        assert message in response.get_data(as_text=True), data
    assert db.session.scalar(select(db.func.count()).select_from(MonitoringProgramme)) == 1


def test_non_owner_cannot_create(app, client, auth):
    programme = gen_programme("P1")
    gen_steward(programme, gen_user("steward@x.org"), "steward")
    auth.login("steward@x.org")
    assert client.get("/programmes/new").status_code == 403
    assert auth.post("/programmes/new", form()).status_code == 403


def test_owner_cannot_name_a_foreign_institution(app, client, auth):
    foreign = gen_institution("FOREIGN")
    gen_steward(gen_programme("MINE"), gen_user("owner@x.org"), "owner")
    auth.login("owner@x.org")
    response = auth.post("/programmes/new", form(institutions=[foreign.id]))
    assert response.status_code == 400
    assert db.session.scalar(select(MonitoringProgramme)
                             .where(MonitoringProgramme.code == "NEW-PROG")) is None


def test_clone_copies_pipeline_rules_and_notes_not_history(app, client, auth):
    source = gen_programme("SOURCE", pipeline_definition_json=PIPELINE,
                           data_quality_rules_json=RULES, lineage_notes="From the field app.")
    gen_run(source)
    gen_alert(source)
    gen_steward(source, gen_user("owner@x.org"), "owner")
    auth.login("owner@x.org")
    response = auth.post("/programmes/SOURCE/clone", form(code="COPY", title="Copy"))
    assert response.status_code == 302, response.get_data(as_text=True)
    copy = db.session.scalar(select(MonitoringProgramme).where(MonitoringProgramme.code == "COPY"))
    assert copy.pipeline_definition_json == PIPELINE
    assert copy.data_quality_rules_json == RULES
    assert copy.lineage_notes == "From the field app."
    page = client.get("/programmes/COPY").get_data(as_text=True)
    assert "No runs yet" in page
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "programme_cloned"))


def test_archive_leaves_the_scheduler_and_lists_keeps_history(app, client, auth):
    from datetime import UTC, datetime

    programme = gen_programme("OLD", refresh_cadence="daily", scheduler_enabled=True,
                              next_run_at=datetime(2030, 1, 1, tzinfo=UTC))
    gen_run(programme)
    gen_steward(programme, gen_user("owner@x.org"), "owner")
    gen_steward(programme, gen_user("steward@x.org"), "steward")
    auth.login("steward@x.org")
    assert auth.post("/programmes/OLD/archive").status_code == 403
    auth.logout()
    auth.login("owner@x.org")
    assert 'href="/programmes/OLD"' in client.get("/").get_data(as_text=True)
    assert auth.post("/programmes/OLD/archive").status_code == 302
    db.session.expire_all()
    assert not programme.active and not programme.scheduler_enabled
    assert programme.next_run_at is None
    client.get("/")  # consume the flash message
    assert 'href="/programmes/OLD"' not in client.get("/").get_data(as_text=True)
    assert client.get("/programmes/OLD").status_code == 200  # history stays reachable
    assert auth.post("/programmes/OLD/archive", {"restore": "1"}).status_code == 302
    db.session.expire_all()
    assert programme.active
