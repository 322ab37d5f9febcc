"""Webhooks: signed JSON that a receiver can verify, retries with back-off on 500s,
and a delivery log with the response status shown to the programme's owners."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models.notifications import NotificationDelivery, NotificationEvent
from portal.services.notifications.delivery import deliver, fan_out
from portal.services.notifications.webhooks import create_webhook
from portal.services.runs import transition
from tests.factories import gen_run


def receiver_verifies(secret: str, header: str, body: bytes) -> bool:
    """The verification docs/notifications.md gives receivers, in a few lines."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    if abs(time.time() - int(fields["t"])) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def _blocked_run(programme):
    run = gen_run(programme, status="running", started_at=datetime.now(UTC))
    transition(run, "blocked", message="gate failed")
    return run


def test_a_webhook_receives_a_signed_documented_payload(people, receiver, smtp, drain):
    hook, secret = create_webhook(people["birds"], people["users"]["owner"], receiver.url,
                                  ["run.blocked"])
    run = _blocked_run(people["birds"])
    drain()

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert receiver_verifies(secret, headers["X-Programmeops-Signature"], body)
    assert not receiver_verifies("whsec_wrong", headers["X-Programmeops-Signature"], body)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Programmeops-Event"] == "run.blocked"
    document = receiver.documents()[0]
    assert document["type"] == "run.blocked"
    assert document["programme"] == {"code": "BIRDS", "title": "Breeding birds",
                                     "url": "https://portal.test/programmes/BIRDS"}
    assert document["run"]["uuid"] == run.uuid and document["run"]["status"] == "blocked"
    assert document["run"]["url"] == f"https://portal.test/runs/{run.uuid}"
    assert headers["X-Programmeops-Delivery"] == document["id"]


def test_a_webhook_only_gets_the_events_it_chose(people, receiver, smtp, drain):
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.failed"])
    _blocked_run(people["birds"])
    drain()
    assert receiver.requests == []


def test_a_500_is_retried_with_exponential_back_off(people, receiver, smtp):
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.blocked"])
    receiver.statuses = [500, 503]
    _blocked_run(people["birds"])
    now = datetime.now(UTC)
    event = db.session.scalar(select(NotificationEvent))
    [webhook_delivery] = [i for i in fan_out(event.uuid, now=now).deliveries
                          if db.session.get(NotificationDelivery, i).channel == "webhook"]

    assert deliver(webhook_delivery, now=now) == "failed"
    row = db.session.get(NotificationDelivery, webhook_delivery)
    assert row.response_status == 500 and row.next_attempt_at == now + timedelta(seconds=60)
    assert deliver(webhook_delivery, now=now + timedelta(seconds=59)) == "not due"
    assert deliver(webhook_delivery, now=now + timedelta(seconds=60)) == "failed"
    row = db.session.get(NotificationDelivery, webhook_delivery)
    assert row.response_status == 503
    assert row.next_attempt_at == now + timedelta(seconds=60 + 120)  # doubled
    assert deliver(webhook_delivery, now=now + timedelta(seconds=180)) == "sent"
    row = db.session.get(NotificationDelivery, webhook_delivery)
    assert (row.response_status, row.attempts) == (200, 3)
    assert len(receiver.requests) == 3
    # every attempt carries the same event id, so a receiver can drop duplicates
    assert len({doc["id"] for doc in receiver.documents()}) == 1


def test_the_delivery_log_shows_the_response_status_to_owners(
        people, receiver, smtp, client, auth):
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.blocked"])
    receiver.statuses = [502]
    _blocked_run(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    for delivery_id in fan_out(event.uuid).deliveries:
        deliver(delivery_id)
    auth.login("owner@x.org")
    page = client.get("/programmes/BIRDS/webhooks").get_data(as_text=True)
    assert receiver.url in page and "<td>502</td>" in page
    assert "the receiver answered HTTP 502" in page
    auth.logout()
    auth.login("steward@x.org")
    assert client.get("/programmes/BIRDS/webhooks").status_code == 403


def test_the_secret_is_shown_once(people, receiver, client, auth):
    auth.login("owner@x.org")
    created = auth.post("/programmes/BIRDS/webhooks",
                        {"url": receiver.url, "events": ["run.failed", "data.late"]})
    assert created.status_code == 200
    page = created.get_data(as_text=True)
    assert 'id="webhook-secret"' in page and "whsec_" in page
    secret = page.split('id="webhook-secret" class="token">')[1].split("<")[0]
    again = client.get("/programmes/BIRDS/webhooks").get_data(as_text=True)
    assert secret not in again and receiver.url in again


def test_a_failing_webhook_never_fails_the_run(people, smtp, drain, app):
    from portal.models.notifications import ProgrammeWebhook

    db.session.add(ProgrammeWebhook(programme_id=people["birds"].id, url="http://127.0.0.1:9/x",
                                    secret="whsec_x", events_json=["run.blocked"]))
    db.session.commit()
    run = _blocked_run(people["birds"])
    drain()
    db.session.commit()  # end this session's read snapshot: the worker wrote since
    db.session.refresh(run)
    assert run.status == "blocked"
    row = db.session.scalar(select(NotificationDelivery)
                            .where(NotificationDelivery.channel == "webhook"))
    assert row.status == "failed" and "could not reach" in row.last_error
