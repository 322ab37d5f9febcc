"""A delivery that gave up can be sent again by the programme's owner (or an admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent
from portal.models.notifications import NotificationDelivery, NotificationEvent
from portal.services.notifications.delivery import deliver, due_deliveries, fan_out
from portal.services.notifications.webhooks import create_webhook
from tests.notifications.test_webhooks import _blocked_run


def _dead_webhook_delivery(people, receiver) -> int:
    """A webhook delivery that failed NOTIFY_MAX_ATTEMPTS (3) times and gave up."""
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.blocked"])
    receiver.statuses = [500, 500, 500]
    _blocked_run(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    now = datetime.now(UTC) - timedelta(hours=1)
    [delivery_id] = [i for i in fan_out(event.uuid, now=now).deliveries
                     if db.session.get(NotificationDelivery, i).channel == "webhook"]
    for minutes in (0, 2, 10):
        deliver(delivery_id, now=now + timedelta(minutes=minutes))
    assert db.session.get(NotificationDelivery, delivery_id).status == "dead"
    return delivery_id


def test_the_owner_sends_a_dead_delivery_again_and_it_arrives(
        people, receiver, smtp, client, auth):
    delivery_id = _dead_webhook_delivery(people, receiver)
    auth.login("owner@x.org")
    health = client.get("/health").get_data(as_text=True)
    assert "Send again" in health
    log = client.get("/programmes/BIRDS/webhooks").get_data(as_text=True)
    assert "Send again" in log

    response = auth.post("/programmes/BIRDS/notifications/resend",
                         {"delivery_id": str(delivery_id), "back": "health"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/health")
    row = db.session.get(NotificationDelivery, delivery_id, populate_existing=True)
    assert (row.status, row.attempts) == ("pending", 0)
    # The notification pass picks it up and this time the receiver answers 200.
    assert delivery_id in due_deliveries(datetime.now(UTC) + timedelta(seconds=1))
    assert deliver(delivery_id) == "sent"
    assert len(receiver.requests) == 4
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification_resent"))
    assert event.actor_label == "owner@x.org" and event.metadata_json["deliveries"] == 1
    # Nothing left to send again: said plainly, nothing audited.
    again = auth.post("/programmes/BIRDS/notifications/resend", {})
    assert again.status_code == 302
    assert "Nothing to send again" in client.get(again.headers["Location"]).get_data(
        as_text=True)


def test_only_owners_and_admins_may_send_again(people, receiver, smtp, client, auth):
    delivery_id = _dead_webhook_delivery(people, receiver)
    auth.login("steward@x.org")
    assert "Send again" not in client.get("/health").get_data(as_text=True)
    refused = auth.post("/programmes/BIRDS/notifications/resend",
                        {"delivery_id": str(delivery_id)})
    assert refused.status_code == 403
    assert db.session.get(NotificationDelivery, delivery_id,
                          populate_existing=True).status == "dead"


def test_a_delivery_of_another_programme_is_not_touched(people, receiver, smtp, client, auth):
    delivery_id = _dead_webhook_delivery(people, receiver)
    auth.login("admin@x.org")
    response = auth.post("/programmes/FISH/notifications/resend",
                         {"delivery_id": str(delivery_id)})
    assert response.status_code == 302
    assert db.session.get(NotificationDelivery, delivery_id,
                          populate_existing=True).status == "dead"
    for bad in ("x", "-1", "1" * 40, "1\x00"):
        assert auth.post("/programmes/BIRDS/notifications/resend",
                         {"delivery_id": bad}).status_code == 400
