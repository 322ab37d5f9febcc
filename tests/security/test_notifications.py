"""Hostile input against notifications: webhook URLs outside the allow-list, redirects,
subscriptions to programmes out of sight, CRLF in e-mail headers, other programmes'
webhooks, forged forms."""
# ruff: noqa: F811 — the fixtures are imported from tests/notifications/conftest.py

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models.notifications import (
    NotificationDelivery,
    NotificationEvent,
    NotificationSubscription,
    ProgrammeWebhook,
)
from portal.services.alerts import raise_alert
from portal.services.notifications.delivery import deliver, fan_out
from portal.services.notifications.webhooks import create_webhook
from portal.services.runs import transition
from tests.factories import gen_run, gen_steward
from tests.notifications.conftest import (  # noqa: F401 — fixtures
    app_config,
    drain,
    people,
    receiver,
    smtp,
)


@pytest.mark.parametrize("url", [
    "https://hooks.evil.example/x",
    "http://127.0.0.1.evil.example/x",
    "file:///etc/passwd",
    "gopher://127.0.0.1/x",
    "http://user:password@127.0.0.1/x",
    "http://127.0.0.1/x\r\nX-Injected: 1",
    "http://[::1]/x",
    "javascript:alert(1)",
    "http://" + "a" * 600 + ".org/",
])
def test_a_webhook_outside_the_allow_list_is_refused_and_nothing_stored(
        people, client, auth, url):
    auth.login("owner@x.org")
    response = auth.post("/programmes/BIRDS/webhooks", {"url": url, "events": ["run.failed"]})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="url-error"' in page and "whsec_" not in page
    assert db.session.scalar(select(db.func.count()).select_from(ProgrammeWebhook)) == 0


def test_unknown_webhook_events_are_refused(people, receiver, client, auth):
    auth.login("owner@x.org")
    response = auth.post("/programmes/BIRDS/webhooks",
                         {"url": receiver.url, "events": ["run.failed", "'; DROP TABLE x"]})
    assert response.status_code == 400 and "Unknown event type" in response.get_data(
        as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(ProgrammeWebhook)) == 0


def _blocked(programme):
    run = gen_run(programme, status="running", started_at=datetime.now(UTC))
    transition(run, "blocked", message="gate failed")


def test_a_host_removed_from_the_allow_list_gets_nothing_more(app, people, receiver, smtp):
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.blocked"])
    app.config["HTTP_ALLOWLIST"] = ["hooks.example.org"]
    _blocked(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    for delivery_id in fan_out(event.uuid).deliveries:
        deliver(delivery_id)
    row = db.session.scalar(select(NotificationDelivery)
                            .where(NotificationDelivery.channel == "webhook"))
    assert row.status == "failed" and "allow-list" in row.last_error
    assert receiver.requests == []


def test_a_redirect_is_not_followed(app, people, receiver, smtp):
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.blocked"])
    receiver.statuses = [302]
    _blocked(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    for delivery_id in fan_out(event.uuid).deliveries:
        deliver(delivery_id)
    row = db.session.scalar(select(NotificationDelivery)
                            .where(NotificationDelivery.channel == "webhook"))
    assert (row.status, row.response_status) == ("failed", 302)
    assert len(receiver.requests) == 1


def test_another_programmes_webhook_cannot_be_deleted(people, receiver, client, auth):
    hook, _ = create_webhook(people["fish"], people["users"]["admin"], receiver.url,
                             ["run.failed"])
    gen_steward(people["fish"], people["users"]["steward"], "reviewer")
    auth.login("owner@x.org")  # owns BIRDS, not FISH
    response = auth.post("/programmes/BIRDS/webhooks/delete", {"webhook_id": str(hook.id)})
    assert response.status_code == 404
    assert db.session.get(ProgrammeWebhook, hook.id) is not None


def test_a_subscription_to_a_programme_out_of_sight_is_a_404(people, client, auth):
    auth.login("other@x.org")  # member of another institution: cannot see BIRDS
    response = auth.post("/account/notifications",
                         {"programme": "BIRDS", "events": ["run.failed"], "mode": "immediate"})
    assert response.status_code == 404
    missing = auth.post("/account/notifications",
                        {"programme": "NOPE", "events": ["run.failed"], "mode": "immediate"})
    assert missing.status_code == 404
    assert db.session.scalar(select(db.func.count())
                             .select_from(NotificationSubscription)) == 0
    page = auth._client.get("/account/notifications").get_data(as_text=True)
    assert "FISH" in page and "BIRDS" not in page


@pytest.mark.parametrize("field,value,error", [
    ("events", "run.exploded", "Unknown event"),
    ("mode", "hourly\r\nBcc: x@evil.org", "Choose immediately or daily digest"),
])
def test_bad_subscription_values_name_the_field(people, client, auth, field, value, error):
    auth.login("owner@x.org")
    data = {"programme": "BIRDS", "events": ["run.failed"], "mode": "immediate", field: value}
    response = auth.post("/account/notifications", data)
    assert response.status_code == 400
    assert f"{field}: {error}" in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count())
                             .select_from(NotificationSubscription)) == 0


def test_a_form_without_its_csrf_token_is_refused(people, client, auth):
    auth.login("owner@x.org")
    response = client.post("/account/notifications",
                           data={"programme": "", "events": ["run.failed"], "mode": "digest"})
    assert response.status_code == 400
    assert db.session.scalar(select(db.func.count())
                             .select_from(NotificationSubscription)) == 0


def test_crlf_in_titles_and_messages_cannot_add_headers_or_recipients(people, smtp, drain):
    birds = people["birds"]
    birds.title = "Birds\r\nBcc: victim@evil.org"
    birds.code = "BIRDS"
    db.session.commit()
    raise_alert(birds, None, rule_id="x\r\nBcc: rule@evil.org", severity="error",
                message="bad\r\nSubject: pwned\r\n\r\nbody")
    db.session.commit()
    drain()
    assert smtp.recipients() == ["reviewer@x.org"]
    _, message = smtp.messages[0]
    assert message["Bcc"] is None and message.get_all("Subject") == [message["Subject"]]
    assert "\n" not in message["Subject"] and "pwned" in message["Subject"]
