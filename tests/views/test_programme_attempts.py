"""Attempts per run: a steward sets how often a lost run is retried; checked and audited."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent
from portal.services.programme_documents import export_document
from tests.views.test_programme_licence import _edit_data


def test_the_edit_form_sets_attempts_per_run_and_audits_it(team, client, auth):
    programme = team["programme"]
    auth.login("owner@x.org")
    form = client.get("/programmes/BIRDS/edit").get_data(as_text=True)
    assert 'name="max_attempts"' in form and "1 never retries" in form
    before = programme.max_attempts
    response = auth.post("/programmes/BIRDS/edit", _edit_data(programme, max_attempts="4"))
    assert response.status_code == 302
    db.session.refresh(programme)
    assert programme.max_attempts == 4
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "programme_updated"))
    assert event.metadata_json["diff"]["max_attempts"] == {"before": before, "after": 4}
    assert export_document(programme)["max_attempts"] == 4


def test_bad_attempts_are_named_with_the_other_errors_and_nothing_is_saved(team, client, auth):
    programme = team["programme"]
    auth.login("owner@x.org")
    before = programme.max_attempts
    for value in ("0", "11", "two", "-1", "1.5"):
        response = auth.post("/programmes/BIRDS/edit", _edit_data(
            programme, max_attempts=value, refresh_cadence="every full moon"))
        page = response.get_data(as_text=True)
        assert response.status_code == 400, value
        # Both mistakes in one round, each beside its field.
        assert 'id="max_attempts-error"' in page and "from 1 to 10" in page
        assert 'id="refresh_cadence-error"' in page
    db.session.refresh(programme)
    assert programme.max_attempts == before


def test_a_form_without_the_field_leaves_attempts_alone(team, client, auth):
    programme = team["programme"]
    programme.max_attempts = 3
    db.session.commit()
    auth.login("owner@x.org")
    assert auth.post("/programmes/BIRDS/edit", _edit_data(
        programme, title="Renamed")).status_code == 302
    db.session.refresh(programme)
    assert programme.max_attempts == 3 and programme.title == "Renamed"
