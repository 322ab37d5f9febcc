"""E-mail: plain-text and HTML parts with a link; an SMTP server that is down delays
mail without losing it; digests group a day's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models.notifications import NotificationDelivery, NotificationEvent
from portal.services.notifications import subscriptions
from portal.services.notifications.delivery import deliver, fan_out, send_digests
from portal.services.runs import transition
from tests.conftest import REDIS_URL  # noqa: F401 — the harness's Redis is required
from tests.factories import gen_run
from tests.notifications.conftest import free_port


def _fail_run(programme, message="validate: 12 rows rejected"):
    run = gen_run(programme, status="running", started_at=datetime.now(UTC))
    transition(run, "failed", message=message)
    return run


def test_the_mail_has_a_text_and_an_html_part_linking_to_the_run(people, smtp, drain):
    run = _fail_run(people["birds"])
    drain()
    _, message = next(m for m in smtp.messages if m[0] == ["owner@x.org"])
    assert message["From"] == "Programme Ops <ops@portal.test>"
    assert message["To"] == "owner@x.org"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://portal.test/runs/{run.uuid}"
    assert link in text and f'href="{link}"' in html
    assert "validate: 12 rows rejected" in text
    assert "https://portal.test/account/notifications" in text


def test_an_smtp_server_that_is_down_delays_mail_without_losing_it(app, people, smtp):
    live_port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    _fail_run(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    now = datetime.now(UTC)
    ids = fan_out(event.uuid, now=now).deliveries

    assert [deliver(i, now=now) for i in ids] == ["failed"] * 3
    row = db.session.get(NotificationDelivery, ids[0])
    assert row.attempts == 1 and "SMTP 127.0.0.1" in row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=60)
    assert deliver(ids[0], now=now + timedelta(seconds=30)) == "not due"  # backing off

    app.config["SMTP_PORT"] = live_port  # the server is back
    later = now + timedelta(seconds=61)
    assert [deliver(i, now=later) for i in ids] == ["sent"] * 3
    assert sorted(smtp.recipients()) == ["operator@x.org", "owner@x.org", "steward@x.org"]
    assert db.session.get(NotificationDelivery, ids[0]).attempts == 2


def test_after_the_last_attempt_the_mail_is_dead_and_on_the_health_page(
        app, people, client, auth):
    app.config["SMTP_PORT"] = free_port()
    _fail_run(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    now = datetime.now(UTC)
    delivery_id = fan_out(event.uuid, now=now).deliveries[0]
    for attempt in range(3):  # NOTIFY_MAX_ATTEMPTS = 3
        deliver(delivery_id, now=now + timedelta(hours=attempt))
    assert db.session.get(NotificationDelivery, delivery_id).status == "dead"

    auth.login("owner@x.org")
    page = client.get("/health").get_data(as_text=True)
    assert 'id="notification-health"' in page
    assert "1</strong> undeliverable" in page and "run.failed" in page
    auth.logout()
    auth.login("other@x.org")  # sees another institution's programmes only
    page = client.get("/health").get_data(as_text=True)
    assert "Every notification was delivered." in page


def test_the_daily_digest_groups_the_days_events(people, smtp):
    owner = people["users"]["owner"]
    subscriptions.save(owner, "BIRDS", ["run.failed", "run.blocked"], "digest")
    _fail_run(people["birds"], "first failure")
    _fail_run(people["birds"], "second failure")
    for event in db.session.scalars(select(NotificationEvent)).all():
        fan_out(event.uuid)
    assert smtp.messages == []  # nothing immediate for the owner (nor anyone else yet)

    result = send_digests(datetime.now(UTC) + timedelta(seconds=1))

    owner_mail = [m for tos, m in smtp.messages if tos == ["owner@x.org"]]
    assert result["sent"] == 1 and len(owner_mail) == 1
    text = owner_mail[0].get_body(("plain",)).get_content()
    assert "first failure" in text and "second failure" in text
    assert "digest" in owner_mail[0]["Subject"].lower()
    assert send_digests(datetime.now(UTC) + timedelta(seconds=1))["sent"] == 0  # sent once


def test_events_after_the_digest_time_wait_for_the_next_digest(people, smtp):
    owner = people["users"]["owner"]
    subscriptions.save(owner, "", ["run.failed"], "digest")
    cutoff = datetime.now(UTC)
    _fail_run(people["birds"])
    fan_out(db.session.scalar(select(NotificationEvent)).uuid)
    assert send_digests(cutoff)["sent"] == 0
    assert send_digests(datetime.now(UTC) + timedelta(seconds=1))["sent"] == 1


def test_without_smtp_host_email_is_off_and_the_health_page_says_so(
        app, people, receiver, client, auth):
    from portal.services.notifications.webhooks import create_webhook

    app.config["SMTP_HOST"] = None
    create_webhook(people["birds"], people["users"]["owner"], receiver.url, ["run.failed"])
    _fail_run(people["birds"])
    event = db.session.scalar(select(NotificationEvent))
    [only] = fan_out(event.uuid).deliveries
    assert db.session.get(NotificationDelivery, only).channel == "webhook"
    assert deliver(only) == "sent"
    auth.login("owner@x.org")
    assert "E-mail is off" in client.get("/health").get_data(as_text=True)
