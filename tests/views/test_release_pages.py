"""Release pages, candidate pages and the review settings, by role (no worker: the
candidates are written directly; tests/engine/test_release_review.py runs them)."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import ReleaseCandidate
from tests.factories import gen_programme, gen_steward, gen_user
from tests.release_fixtures import publish, read_package, stage


@pytest.fixture
def programme(app):
    return gen_programme("PAGES")


@pytest.mark.parametrize("role,allowed", [("reviewer", True), ("steward", True),
                                          ("owner", True), ("operator", False)])
def test_who_may_approve(app, client, auth, programme, role, allowed):
    user = gen_user()
    gen_steward(programme, user, role)
    _, candidate = stage(app, programme)
    auth.login(user.email)
    page = client.get(f"/programmes/PAGES/candidates/{candidate.uuid}").get_data(as_text=True)
    assert ("Approve and publish" in page) is allowed
    response = auth.post_json(f"/api/v1/programmes/PAGES/candidates/{candidate.uuid}/approve")
    assert response.status_code == (200 if allowed else 403)
    db.session.rollback()
    assert db.session.get(ReleaseCandidate, candidate.id).status == \
        ("approved" if allowed else "pending")


def test_self_approval_refused_unless_the_programme_allows_it(app, client, auth, programme):
    steward = gen_user()
    gen_steward(programme, steward, "steward")
    _, candidate = stage(app, programme, requested_by=steward)
    auth.login(steward.email)
    page = client.get(f"/programmes/PAGES/candidates/{candidate.uuid}").get_data(as_text=True)
    assert "You triggered this run" in page and "Approve and publish" not in page
    refused = auth.post(f"/programmes/PAGES/candidates/{candidate.uuid}/approve")
    assert refused.status_code == 302
    assert "You triggered this run" in client.get(refused.location).get_data(as_text=True)

    auth.post("/programmes/PAGES/review-settings",
              {"publish_requires_review": "on", "review_allows_self_approval": "on"})
    db.session.refresh(programme)
    assert programme.publish_requires_review and programme.review_allows_self_approval
    approved = auth.post_json(f"/api/v1/programmes/PAGES/candidates/{candidate.uuid}/approve")
    assert approved.status_code == 200 and approved.get_json()["version"] == "1.0"


def test_release_page_shows_resources_preview_review_and_diff(app, client, auth, programme):
    owner = gen_user()
    gen_steward(programme, owner, "owner")
    publish(app, programme)
    rows = "".join(f"S{i},2021,{i % 7}\n" for i in range(60))
    version = publish(app, programme, csv="site,year,richness\nA,2020,5\n" + rows)
    assert version == "1.1" and read_package(app, programme, "1.1")["review"]
    auth.login(owner.email)

    page = client.get("/programmes/PAGES/releases/1.1").get_data(as_text=True)

    assert "richness.csv" in page and "Approved by" in page
    assert "Rows 1–25 of 61" in page  # a paged preview
    assert "1 row changed (richness)" in page and "60 added" in page and "1 removed" in page
    fragment = client.get("/programmes/PAGES/releases/1.1?table=richness&page=3",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Rows 51–61 of 61" in fragment and "<html" not in fragment
    against = client.get("/api/v1/programmes/PAGES/releases/1.1?against=1.1").get_json()
    assert against["diff"]["headlines"] == []  # the same release: nothing changed


def test_programme_page_shows_the_pending_candidate(app, client, auth, programme):
    reviewer = gen_user()
    gen_steward(programme, reviewer, "reviewer")
    _, candidate = stage(app, programme)
    auth.login(reviewer.email)
    page = client.get("/programmes/PAGES").get_data(as_text=True)
    assert "awaits review" in page and candidate.uuid in page
    inbox = client.get("/alerts").get_data(as_text=True)
    assert "awaits review" in inbox
