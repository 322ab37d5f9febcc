"""Hostile programme documents: bad JSON, wrong types, another programme's code, stale versions.

Every refusal is a JSON error naming the field, and nothing is saved or audited.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme
from tests.factories import gen_programme, gen_steward, gen_user


@pytest.fixture
def owner_world(app):
    """SITES owned by owner@x.org; OTHER owned by someone else; a token for the owner."""
    from portal.auth.tokens import create_token

    owner = gen_user("owner@x.org")
    programme = gen_programme("SITES", refresh_cadence="weekly")
    gen_steward(programme, owner, "owner")
    other = gen_programme("OTHER")
    gen_steward(other, gen_user("else@x.org"), "owner")
    _, secret = create_token(owner, "ci")
    return {"headers": {"Authorization": f"Bearer {secret}"}, "programme": programme}


def _nothing_written() -> bool:
    db.session.expire_all()
    return not db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["programme_updated", "programme_created"])))


@pytest.mark.parametrize("body,field", [
    ("{not json", "body"),
    ("", "body"),
    ("[1, 2]", "body"),
    ('"SITES"', "body"),
    ("[" * 5000, "body"),
    ('{"refresh_cadence": 7}', "refresh_cadence"),
    ('{"scheduler_enabled": "yes"}', "scheduler_enabled"),
    ('{"pipeline": [1]}', "pipeline"),
    ('{"rules": "none"}', "rules"),
    ('{"institutions": "ORNI"}', "institutions"),
    ('{"title": null}', "title"),
    ('{"colour": "red"}', "colour"),
    ('{"format": "something/else"}', "format"),
    ('{"pipeline": {"steps": [{"key": "a", "type": "ingest.csv",'
     ' "params": {"source": "../OTHER/secret.csv"}}]}}', "pipeline"),
])
def test_bad_update_bodies_are_json_400s_naming_the_field(owner_world, client, body, field):
    response = client.patch("/api/v1/programmes/SITES", data=body,
                            content_type="application/json",
                            headers={**owner_world["headers"], "If-Match": "*"})
    assert response.status_code == 400 and response.is_json, response.data[:200]
    assert response.json["field"] == field and response.json["message"]
    assert _nothing_written()


def test_another_programmes_code_in_the_document_is_refused(owner_world, client):
    response = client.patch("/api/v1/programmes/SITES", json={"code": "OTHER",
                                                                "lineage_notes": "hijack"},
                            headers={**owner_world["headers"], "If-Match": "*"})
    assert response.status_code == 400 and response.json["field"] == "code"
    assert "OTHER" in response.json["message"] and _nothing_written()
    assert client.patch("/api/v1/programmes/OTHER", json={"lineage_notes": "hijack"},
                        headers={**owner_world["headers"], "If-Match": "*"}).status_code == 404


def test_creating_with_a_taken_code_is_a_conflict(owner_world, client):
    response = client.post("/api/v1/programmes", json={"code": "other", "title": "Mine now"},
                           headers=owner_world["headers"])
    assert response.status_code == 409 and response.json["field"] == "code"
    assert _nothing_written()


@pytest.mark.parametrize("if_match", ['"0000"', "0000", '"' + "f" * 32 + '"', "W/x"])
def test_stale_or_made_up_versions_are_refused(owner_world, client, if_match):
    response = client.patch("/api/v1/programmes/SITES", json={"refresh_cadence": "daily"},
                            headers={**owner_world["headers"], "If-Match": if_match})
    assert response.status_code == 412 and response.json["error"] == "precondition_failed"
    db.session.expire_all()
    assert db.session.get(MonitoringProgramme,
                          owner_world["programme"].id).refresh_cadence == "weekly"
    assert _nothing_written()


def test_session_writes_need_the_csrf_token(owner_world, client, auth):
    auth.login("owner@x.org")
    response = client.patch("/api/v1/programmes/SITES", json={"lineage_notes": "x"},
                            headers={"If-Match": "*"})
    assert response.status_code == 400 and "security token" in response.json["message"]
    assert _nothing_written()
