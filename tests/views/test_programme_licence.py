"""The programme's release licence: edited with a hint, checked, audited, shown by the API."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent


def _edit_data(programme, **changes) -> dict:
    data = {"title": programme.title, "description": "", "refresh_cadence": "weekly",
            "timezone": "Europe/Madrid",
            "pipeline_definition": json.dumps(programme.pipeline_definition_json),
            "data_quality_rules": json.dumps(programme.data_quality_rules_json),
            "lineage_notes": ""}
    return {**data, **changes}


def test_the_edit_form_sets_the_licence_and_the_api_shows_it(team, client, auth):
    programme = team["programme"]
    auth.login("owner@x.org")
    form = client.get("/programmes/BIRDS/edit").get_data(as_text=True)
    assert 'name="licence"' in form and "An SPDX licence id such as CC-BY-4.0" in form
    response = auth.post("/programmes/BIRDS/edit", _edit_data(
        programme, licence="https://example.org/terms Example open terms"))
    assert response.status_code == 302
    db.session.refresh(programme)
    assert programme.licence == "https://example.org/terms Example open terms"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "programme_updated"))
    assert event.metadata_json["diff"]["licence"] == {
        "before": "CC0-1.0", "after": "https://example.org/terms Example open terms"}
    body = client.get("/api/v1/programmes/BIRDS").get_json()
    assert body["licence"] == "https://example.org/terms Example open terms"
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert "<code>https://example.org/terms Example open terms</code>" in page


def test_a_bad_licence_is_refused_next_to_its_field(team, client, auth):
    programme = team["programme"]
    auth.login("owner@x.org")
    response = auth.post("/programmes/BIRDS/edit", _edit_data(
        programme, licence="javascript:alert(1)"))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="licence-error"' in page and "Give an SPDX licence id" in page
    db.session.refresh(programme)
    assert programme.licence == "CC0-1.0"


def test_clearing_the_licence_is_shown_as_none(team, client, auth):
    programme = team["programme"]
    auth.login("owner@x.org")
    assert auth.post("/programmes/BIRDS/edit",
                     _edit_data(programme, licence="")).status_code == 302
    assert client.get("/api/v1/programmes/BIRDS").get_json()["licence"] is None
    assert "none set — a release takes the licence its input declares" in client.get(
        "/programmes/BIRDS").get_data(as_text=True)
