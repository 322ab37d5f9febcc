"""Hostile release licences: through the API document and the edit form, a licence that
is not an SPDX id or an http(s) URL is refused naming the field, and nothing is saved."""

from __future__ import annotations

import json

import pytest

from portal.extensions import db
from tests.factories import gen_programme, gen_steward, gen_user

HOSTILE = [
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "file:///etc/passwd",
    "CC-BY-4.0\nX-Injected: 1",
    "https://example.org/terms Title\r\nX-Injected: 1",
    "https://example.org/" + "a" * 400,
    "../../etc/passwd",
    "data:text/html,<b>x</b>",
]


@pytest.fixture
def licensed(app):
    """SITES (licence CC0-1.0) owned by owner@x.org, with an API token."""
    from portal.auth.tokens import create_token

    owner = gen_user("owner@x.org")
    programme = gen_programme("SITES")
    gen_steward(programme, owner, "owner")
    _, secret = create_token(owner, "ci")
    return {"headers": {"Authorization": f"Bearer {secret}"}, "programme": programme}


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_licence_document_is_a_400_naming_licence(licensed, client, value):
    response = client.patch("/api/v1/programmes/SITES", data=json.dumps({"licence": value}),
                            content_type="application/json",
                            headers={**licensed["headers"], "If-Match": "*"})
    assert response.status_code == 400 and response.is_json
    assert response.json["field"] == "licence" and response.json["message"]
    db.session.refresh(licensed["programme"])
    assert licensed["programme"].licence == "CC0-1.0"


def test_a_licence_of_the_wrong_type_is_refused(licensed, client):
    response = client.patch("/api/v1/programmes/SITES", data='{"licence": ["CC0-1.0"]}',
                            content_type="application/json",
                            headers={**licensed["headers"], "If-Match": "*"})
    assert response.status_code == 400 and response.json["field"] == "licence"


@pytest.mark.parametrize("value", HOSTILE[:4])
def test_a_hostile_licence_in_the_form_is_refused(licensed, client, auth, value):
    programme = licensed["programme"]
    auth.login("owner@x.org")
    response = auth.post("/programmes/SITES/edit", {
        "title": programme.title, "refresh_cadence": "manual", "timezone": "UTC",
        "pipeline_definition": '{"steps": []}', "data_quality_rules": '{"rules": []}',
        "licence": value})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="licence-error"' in page
    assert "<script>alert(1)</script>" not in page
    db.session.refresh(programme)
    assert programme.licence == "CC0-1.0"
