"""A user's own time zone wins over the default rule (a programme's zone on its pages,
UTC for the portal's own records) on every page; the tooltip keeps the exact UTC time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.auth.tokens import create_token
from portal.extensions import db
from portal.models import AuditEvent, User
from tests.conftest import AuthActions
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

NOON = datetime(2026, 1, 15, 12, 0, 7, tzinfo=UTC)  # winter: CET in Amsterdam, EST in New York
TIME_RE = re.compile(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>')
EXACT = ("2026-01-15T12:00:07+00:00", "2026-01-15T12:00:07+00:00 (UTC)")


@pytest.fixture
def world(app):
    """A New York programme with a run at noon UTC, an audit event then, two users."""
    programme = gen_programme("OWLS", timezone="America/New_York")
    run = gen_run(programme, queued_at=NOON, started_at=NOON, finished_at=NOON)
    admin = gen_user("admin@x.org", is_admin=True)
    steward = gen_user("steward@x.org")
    gen_steward(programme, steward, "steward")
    # An audit event at noon (audit.record stamps the present moment).
    db.session.add(AuditEvent(action="programme_note", actor_id=admin.id,
                              actor_label=admin.email, object_type="programme",
                              object_id=programme.code, programme_id=programme.id,
                              metadata_json={}, created_at=NOON))
    db.session.commit()
    return {"programme": programme, "run": run, "admin": admin, "steward": steward}


def times_on(client, url: str) -> list[tuple[str, str, str]]:
    """Every ``<time>`` of the page as (datetime, tooltip, text)."""
    response = client.get(url)
    assert response.status_code == 200, url
    return TIME_RE.findall(response.get_data(as_text=True))


def choose(auth, zone: str):
    """Choose a time zone through the preferences form."""
    return auth.post("/account/preferences", {"time_zone": zone})


def test_default_rule_programme_zone_on_programme_pages_utc_elsewhere(world, client, auth):
    auth.login("admin@x.org")
    for url in (f"/runs/{world['run'].uuid}", "/runs", "/programmes/OWLS/runs"):
        assert (*EXACT, "2026-01-15 07:00:07 EST") in times_on(client, url), url
    assert (*EXACT, "2026-01-15 12:00:07 UTC") in times_on(client, "/audit")


def test_chosen_zone_wins_on_runs_list_run_page_and_audit_log(world, client, auth):
    auth.login("admin@x.org")
    response = choose(auth, "Europe/Amsterdam")
    assert response.status_code == 302
    assert db.session.get(User, world["admin"].id).time_zone == "Europe/Amsterdam"
    for url in (f"/runs/{world['run'].uuid}", "/runs", "/programmes/OWLS/runs",
                "/programmes/OWLS", "/audit"):
        shown = times_on(client, url)
        assert (*EXACT, "2026-01-15 13:00:07 CET") in shown, url
        assert not any(text.endswith((" EST", " UTC")) for _, _, text in shown), url


def test_the_choice_is_the_viewers_own(world, client, auth, app):
    """One user's zone changes nothing for another."""
    auth.login("admin@x.org")
    choose(auth, "Asia/Tokyo")
    assert (*EXACT, "2026-01-15 21:00:07 JST") in times_on(client, f"/runs/{world['run'].uuid}")
    other = app.test_client()
    AuthActions(other).login("steward@x.org")
    assert (*EXACT, "2026-01-15 07:00:07 EST") in times_on(other, f"/runs/{world['run'].uuid}")


def test_tokens_page_follows_the_choice(world, client, auth):
    create_token(world["admin"], "ci")
    db.session.commit()
    auth.login("admin@x.org")
    choose(auth, "Asia/Kolkata")
    page = client.get("/account/tokens").get_data(as_text=True)
    assert " IST</time>" in page and "Asia/Kolkata" in page


def test_preferences_page_lists_zones_with_default_first_and_can_go_back(world, client, auth):
    auth.login("admin@x.org")
    page = client.get("/account/preferences").get_data(as_text=True)
    options = re.findall(r'<option (?:selected )?value="([^"]*)"', page)
    assert options[0] == "" and "Default (programme&#39;s zone / UTC)" in page
    assert {"Europe/Amsterdam", "UTC", "America/New_York"} <= set(options)
    assert "localtime" not in options
    choose(auth, "Europe/Amsterdam")
    assert re.search(r'<option selected value="Europe/Amsterdam"',
                     client.get("/account/preferences").get_data(as_text=True))
    assert choose(auth, "").status_code == 302
    assert db.session.get(User, world["admin"].id).time_zone is None
    assert (*EXACT, "2026-01-15 07:00:07 EST") in times_on(client, "/runs")
    changes = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "user_time_zone_changed").order_by(AuditEvent.id)).all()
    assert [e.metadata_json["time_zone"] for e in changes] == [
        {"before": None, "after": "Europe/Amsterdam"},
        {"before": "Europe/Amsterdam", "after": None}]
    assert all(e.actor_id == world["admin"].id for e in changes)


def test_admin_sees_a_users_zone(world, client, auth):
    auth.login("steward@x.org")
    choose(auth, "Pacific/Auckland")
    auth.logout()
    auth.login("admin@x.org")
    page = client.get(f"/admin/users/{world['steward'].id}").get_data(as_text=True)
    assert "Time zone: Pacific/Auckland" in page


def test_api_reads_and_changes_the_callers_zone(world, client, app):
    _, secret = create_token(world["steward"], "script")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=bearer).json == {
        "email": "steward@x.org", "name": world["steward"].name, "is_admin": False,
        "time_zone": None}
    response = client.patch("/api/v1/me", json={"time_zone": "Europe/Amsterdam"},
                            headers=bearer)
    assert response.status_code == 200 and response.json["time_zone"] == "Europe/Amsterdam"
    browser = app.test_client()  # the pages follow the choice made through the API
    AuthActions(browser).login("steward@x.org")
    assert (*EXACT, "2026-01-15 13:00:07 CET") in times_on(browser, f"/runs/{world['run'].uuid}")
    back = client.patch("/api/v1/me", json={"time_zone": None}, headers=bearer)
    assert back.status_code == 200 and back.json["time_zone"] is None
    # API times stay UTC whatever the zone
    assert client.get(f"/api/v1/runs/{world['run'].uuid}", headers=bearer).json[
        "queued_at"].startswith("2026-01-15T12:00:07")
