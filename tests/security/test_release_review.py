"""Hostile input against release pages and the sign-off gate: other programmes'
candidates, path traversal in versions, table names and ``against``, oversized or
mistyped notes, markup in a withdrawal reason."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import ReleaseCandidate
from portal.services import candidates
from tests.factories import gen_programme, gen_steward, gen_user
from tests.release_fixtures import publish, stage


@pytest.fixture
def world(app):
    mine, hidden = gen_programme("MINE"), gen_programme("HIDDEN")
    reviewer = gen_user()
    gen_steward(mine, reviewer, "owner")
    publish(app, hidden)
    _, hidden_candidate = stage(app, hidden)
    publish(app, mine)
    return {"reviewer": reviewer, "hidden_candidate": hidden_candidate, "mine": mine}


def test_a_candidate_of_an_unseen_programme_is_not_found(app, client, auth, world):
    auth.login(world["reviewer"].email)
    uuid = world["hidden_candidate"].uuid
    for path in (f"/programmes/HIDDEN/candidates/{uuid}/approve",
                 f"/programmes/HIDDEN/candidates/{uuid}/reject"):
        assert auth.post(path, {"note": "x"}).status_code == 404
    assert auth.post_json(f"/api/v1/programmes/HIDDEN/candidates/{uuid}/approve"
                          ).status_code == 404
    assert client.get(f"/programmes/HIDDEN/candidates/{uuid}").status_code == 404
    # through a programme the user may review: still another programme's candidate
    assert auth.post_json(f"/api/v1/programmes/MINE/candidates/{uuid}/approve"
                          ).status_code == 404
    assert client.get("/api/v1/programmes/HIDDEN/releases/1.0").status_code == 404
    db.session.rollback()
    assert db.session.get(ReleaseCandidate, world["hidden_candidate"].id).status == "pending"


@pytest.mark.parametrize("path", [
    "/programmes/MINE/releases/..%2FHIDDEN%2F1.0",
    "/programmes/MINE/releases/..",
    "/programmes/MINE/releases/.candidates",
    "/programmes/MINE/releases/1.0%00",
    "/programmes/MINE/releases/01.0",
    "/api/v1/programmes/MINE/releases/..%2F..%2Fetc",
    "/api/v1/programmes/MINE/releases/1.0?against=..%2F..%2FHIDDEN%2F1.1",
    "/api/v1/programmes/MINE/releases/1.0?against=../HIDDEN",
])
def test_version_traversal_is_not_found(app, client, auth, world, path):
    auth.login(world["reviewer"].email)
    response = client.get(path)
    assert response.status_code == 404
    assert "HIDDEN" not in response.get_data(as_text=True)


def test_table_names_and_withdrawal_versions_cannot_escape(app, client, auth, world):
    auth.login(world["reviewer"].email)
    fragment = client.get("/programmes/MINE/releases/1.0?table=../../HIDDEN/1.0/richness",
                          headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    response = auth.post_json("/api/v1/programmes/MINE/releases/..%2FHIDDEN/withdraw",
                              {"reason": "x"})
    assert response.status_code == 404
    with pytest.raises(candidates.CandidateError):
        candidates.candidate_dir(app.config["PUBLISH_ROOT"], "../../HIDDEN")


def test_notes_and_reasons_are_checked_and_escaped(app, client, auth, world):
    auth.login(world["reviewer"].email)
    _, candidate = stage(app, world["mine"])
    url = f"/api/v1/programmes/MINE/candidates/{candidate.uuid}/reject"
    assert auth.post_json(url, {"note": 42}).get_json()["field"] == "note"
    assert auth.post_json(url, {"note": "x" * 5000}).status_code == 400
    assert auth.post_json(url, {"note": "ok", "extra": 1}).get_json()["field"] == "extra"
    bad = client.post(url, data="[1]", content_type="application/json",
                      headers={"X-CSRFToken": auth.csrf_token("/")})
    assert bad.status_code == 400
    reason = '<script>alert("x")</script>'
    assert auth.post_json("/api/v1/programmes/MINE/releases/1.0/withdraw",
                          {"reason": reason}).status_code == 200
    page = client.get("/programmes/MINE/releases/1.0").get_data(as_text=True)
    assert reason not in page and "&lt;script&gt;" in page
    again = auth.post_json("/api/v1/programmes/MINE/releases/1.0/withdraw", {"reason": "y"})
    assert again.status_code == 409


def test_withdrawal_needs_an_owner(app, auth, world):
    steward = gen_user()
    gen_steward(world["mine"], steward, "steward")
    auth.login(steward.email)
    response = auth.post_json("/api/v1/programmes/MINE/releases/1.0/withdraw", {"reason": "x"})
    assert response.status_code == 403
