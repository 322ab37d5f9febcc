"""The notification pages as a user sees them: subscriptions, expected delivery, and
the programme, metrics and navigation parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models.notifications import ExpectedDelivery, NotificationSubscription
from portal.services.notifications import expected


def _checked(page: str, section: str, event: str) -> bool:
    part = page.split(f'id="subscription-{section}"')[1].split("</section>")[0]
    return f'value="{event}" checked' in part


def test_the_settings_page_shows_role_defaults_and_saves_a_choice(people, client, auth):
    auth.login("reviewer@x.org")
    page = client.get("/account/notifications").get_data(as_text=True)
    assert _checked(page, "BIRDS", "alert.opened") and not _checked(page, "BIRDS", "run.failed")
    assert "Defaults of your roles" in page and "FISH" not in page

    response = auth.post("/account/notifications", {
        "programme": "BIRDS", "events": ["run.failed", "release.published"], "mode": "digest"})
    assert response.status_code == 302
    page = client.get("/account/notifications").get_data(as_text=True)
    assert _checked(page, "BIRDS", "run.failed") and not _checked(page, "BIRDS", "alert.opened")
    assert '<option value="digest" selected>' in page
    row = db.session.scalar(select(NotificationSubscription))
    assert (row.events_json, row.mode) == (["run.failed", "release.published"], "digest")

    auth.post("/account/notifications", {"programme": "BIRDS", "action": "reset"})
    page = client.get("/account/notifications").get_data(as_text=True)
    assert _checked(page, "BIRDS", "alert.opened")
    assert db.session.scalar(select(db.func.count())
                             .select_from(NotificationSubscription)) == 0


def test_a_choice_for_all_programmes_applies_where_none_is_set(people, client, auth):
    auth.login("member@x.org")  # no roles: no defaults
    auth.post("/account/notifications", {"programme": "", "events": ["data.late"],
                                         "mode": "immediate"})
    page = client.get("/account/notifications").get_data(as_text=True)
    assert _checked(page, "BIRDS", "data.late") and "Your choice for all programmes" in page


def test_stewards_declare_an_expected_delivery(people, client, auth):
    auth.login("steward@x.org")
    refused = auth.post("/programmes/BIRDS/expected-delivery",
                        {"cadence": "monthly", "due_day": "31", "grace_days": "2", "active": "on"})
    assert refused.status_code == 400
    assert "The due day must be a day of the month from 1 to 28." in refused.get_data(
        as_text=True)
    assert db.session.scalar(select(ExpectedDelivery)) is None

    saved = auth.post("/programmes/BIRDS/expected-delivery",
                      {"cadence": "monthly", "due_day": "5", "grace_days": "2", "active": "on"})
    assert saved.status_code == 302
    row = db.session.scalar(select(ExpectedDelivery))
    assert (row.cadence, row.due_day, row.grace_days, row.active) == ("monthly", 5, 2, True)
    page = client.get("/programmes/BIRDS/expected-delivery").get_data(as_text=True)
    assert "Next deadline" in page and "Declare when data is due" in page
    detail = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert 'id="expected-delivery"' in detail and "Next deadline" in detail


def test_reviewers_see_the_punctuality_but_no_form(people, client, auth):
    db.session.add(ExpectedDelivery(programme_id=people["birds"].id, cadence="daily",
                                    due_day=1, grace_days=0,
                                    created_at=datetime.now(UTC) - timedelta(days=5)))
    db.session.commit()
    auth.login("reviewer@x.org")
    page = client.get("/programmes/BIRDS/expected-delivery").get_data(as_text=True)
    assert "Punctuality of the last twelve" in page and "missing" in page
    assert "Declare when data is due" not in page
    assert "webhooks</a>" not in client.get("/programmes/BIRDS").get_data(as_text=True)


def test_the_metrics_page_counts_late_deliveries(people, client, auth):
    db.session.add(ExpectedDelivery(programme_id=people["birds"].id, cadence="daily",
                                    due_day=1, grace_days=0,
                                    created_at=datetime.now(UTC) - timedelta(days=3)))
    db.session.commit()
    assert expected.check_all()["late"] == 1
    auth.login("owner@x.org")
    page = client.get("/reports/metrics").get_data(as_text=True)
    section = page.split('id="late-deliveries"')[1].split("</section>")[0]
    assert "BIRDS" in section and "<td>1</td>" in section
    auth.logout()
    auth.login("other@x.org")
    assert 'id="late-deliveries"' not in client.get("/reports/metrics").get_data(as_text=True)
