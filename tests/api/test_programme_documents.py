"""Programmes as code: create, update (If-Match) and export through the API and `flask ops`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from jobs.cli import ops_cli
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme

NEW = {"code": "MOTHS", "title": "Moth trap network", "timezone": "Europe/London",
       "refresh_cadence": "weekly", "institutions": ["ORNI"],
       "pipeline": {"steps": [{"key": "ingest", "type": "ingest.csv",
                               "params": {"source": "moths.csv"}}]},
       "rules": {"rules": []}, "lineage_notes": "Traps emptied at dawn."}


def _events(action: str, code: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.object_id == code).order_by(AuditEvent.id)))


def test_owner_creates_a_programme_and_it_is_audited(team, client, bearer):
    response = client.post("/api/v1/programmes", json=NEW, headers=bearer("owner"))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["code"] == "MOTHS" and body["institutions"] == ["ORNI"]
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert response.headers["Location"] == "/api/v1/programmes/MOTHS/document"
    (event,) = _events("programme_created", "MOTHS")
    assert event.actor_label == "owner@x.org"
    again = client.get("/api/v1/programmes/MOTHS/document", headers=bearer("owner"))
    assert again.json == body


def test_update_needs_the_current_version_and_audits_the_diff(team, client, bearer):
    headers = bearer("steward")
    exported = client.get("/api/v1/programmes/BIRDS/document", headers=headers)
    etag = exported.headers["ETag"]
    missing = client.patch("/api/v1/programmes/BIRDS", json={"refresh_cadence": "daily"},
                           headers=headers)
    assert missing.status_code == 428 and "If-Match" in missing.json["message"]
    changed = client.patch("/api/v1/programmes/BIRDS",
                           json={"refresh_cadence": "daily", "lineage_notes": "From git."},
                           headers={**headers, "If-Match": etag})
    assert changed.status_code == 200, changed.json
    assert changed.json["changed"] == ["lineage_notes", "refresh_cadence"]
    assert changed.headers["ETag"] != etag
    (event,) = _events("programme_updated", "BIRDS")
    assert event.actor_label == "steward@x.org"
    assert event.metadata_json["diff"]["refresh_cadence"] == {"before": "weekly",
                                                              "after": "daily"}
    # A second writer still holding the first version loses nothing: it is refused.
    stale = client.patch("/api/v1/programmes/BIRDS", json={"refresh_cadence": "monthly"},
                         headers={**headers, "If-Match": etag})
    assert stale.status_code == 412 and stale.json["error"] == "precondition_failed"
    assert "changed since" in stale.json["message"]
    db.session.expire_all()
    assert db.session.get(MonitoringProgramme, team["programme"].id).refresh_cadence == "daily"


def test_update_validates_like_the_form(team, client, bearer):
    headers = {**bearer("owner"), "If-Match": "*"}
    response = client.patch("/api/v1/programmes/BIRDS", headers=headers, json={
        "refresh_cadence": "every blue moon",
        "pipeline": {"steps": [{"key": "x", "type": "no.such.step"}]}})
    assert response.status_code == 400
    assert set(response.json["errors"]) == {"refresh_cadence", "pipeline"}
    assert _events("programme_updated", "BIRDS") == []


def test_a_whole_exported_document_applies_back_unchanged(team, client, bearer):
    headers = bearer("owner")
    document = client.get("/api/v1/programmes/BIRDS/document", headers=headers).json
    response = client.patch("/api/v1/programmes/BIRDS", json=document, headers=headers)
    assert response.status_code == 200 and response.json["changed"] == []


@pytest.mark.parametrize("role,status", [("reviewer", 403), ("operator", 403),
                                         ("member", 403), ("outsider", 404)])
def test_update_needs_edit_rights(team, client, bearer, role, status):
    response = client.patch("/api/v1/programmes/BIRDS", json={"lineage_notes": "x"},
                            headers={**bearer(role), "If-Match": "*"})
    assert response.status_code == status and response.is_json


@pytest.mark.parametrize("role,status", [("admin", 201), ("owner", 201), ("steward", 403),
                                         ("reviewer", 403), ("outsider", 403)])
def test_create_by_role(team, client, bearer, role, status):
    document = {**NEW, "institutions": []}
    response = client.post("/api/v1/programmes", json=document, headers=bearer(role))
    assert response.status_code == status, response.json
    if status == 403:
        assert "Only admins and programme owners" in response.json["message"]


def test_flask_ops_export_then_apply_is_audited_and_checks_the_version(team, runner, tmp_path):
    path = tmp_path / "birds.json"
    result = runner.invoke(ops_cli, ["export", "BIRDS", "--as", "steward@x.org",
                                 "-o", str(path)])
    assert result.exit_code == 0, result.output
    document = json.loads(path.read_text())
    document["refresh_cadence"] = "monthly"
    path.write_text(json.dumps(document))
    applied = runner.invoke(ops_cli, ["apply", str(path), "--as", "steward@x.org"])
    assert applied.exit_code == 0, applied.output
    assert "updated BIRDS: refresh_cadence" in applied.output
    (event,) = _events("programme_updated", "BIRDS")
    assert event.actor_label == "steward@x.org"
    assert event.metadata_json["diff"]["refresh_cadence"]["after"] == "monthly"
    document["lineage_notes"] = "a second edit on the old version"
    path.write_text(json.dumps(document))
    stale = runner.invoke(ops_cli, ["apply", str(path), "--as", "steward@x.org"])
    assert stale.exit_code != 0 and "changed since" in stale.output
    refused = runner.invoke(ops_cli, ["apply", str(path), "--as", "reviewer@x.org",
                                  "--force"])
    assert refused.exit_code != 0 and "Only the programme's owners and stewards" in refused.output


def test_flask_ops_apply_creates(team, runner, tmp_path):
    path = tmp_path / "moths.json"
    path.write_text(json.dumps(NEW))
    result = runner.invoke(ops_cli, ["apply", str(path), "--as", "owner@x.org"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created MOTHS")
    assert _events("programme_created", "MOTHS")[0].actor_label == "owner@x.org"


def test_attempts_per_run_are_part_of_the_document(team, client, bearer):
    headers = {**bearer("owner"), "If-Match": "*"}
    for bad in (0, 11, "3", True):
        response = client.patch("/api/v1/programmes/BIRDS", headers=headers,
                                json={"max_attempts": bad})
        assert response.status_code == 400, bad
        assert "max_attempts" in response.json["message"] + str(response.json.get("errors"))
    changed = client.patch("/api/v1/programmes/BIRDS", headers=headers, json={"max_attempts": 5})
    assert changed.status_code == 200 and changed.json["changed"] == ["max_attempts"]
    document = client.get("/api/v1/programmes/BIRDS/document", headers=headers).json
    assert document["max_attempts"] == 5
    (event,) = _events("programme_updated", "BIRDS")
    assert event.metadata_json["diff"]["max_attempts"]["after"] == 5
