"""Each event reaches exactly the subscribed users who can see the programme, by e-mail
through a real SMTP server and a real RQ worker."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.models.notifications import EVENT_TYPES, NotificationDelivery, NotificationEvent
from portal.services.alerts import raise_alert
from portal.services.notifications import subscriptions
from portal.services.runs import transition
from tests.factories import gen_run


def _running(programme, **fields) -> MonitoringProgrammeRun:
    return gen_run(programme, status="running", started_at=datetime.now(UTC), **fields)


def test_a_failed_run_mails_exactly_the_subscribed_users_who_see_it(people, smtp, drain):
    users = people["users"]
    # Everything, everywhere: but the other institution's member cannot see BIRDS.
    subscriptions.save(users["other_member"], "", list(EVENT_TYPES), "immediate")
    subscriptions.save(users["member"], "BIRDS", ["run.failed"], "immediate")
    subscriptions.save(users["admin"], "FISH", list(EVENT_TYPES), "immediate")

    transition(_running(people["birds"]), "failed", message="ingest: file not found")
    drain()

    assert sorted(smtp.recipients()) == ["member@x.org", "operator@x.org", "owner@x.org",
                                         "steward@x.org"]
    _, message = smtp.messages[0]
    assert "BIRDS" in message["Subject"] and "run failed" in message["Subject"]


def test_a_blocked_run_reaches_owners_and_stewards_by_default(people, smtp, drain):
    transition(_running(people["birds"]), "blocked", message="gate: 40% rows rejected")
    drain()
    assert sorted(smtp.recipients()) == ["owner@x.org", "steward@x.org"]


def test_a_dry_run_notifies_nobody(people, smtp, drain):
    transition(_running(people["birds"], dry_run=True), "failed", message="boom")
    drain()
    assert smtp.messages == []
    assert db.session.scalar(select(db.func.count()).select_from(NotificationEvent)) == 0


def test_an_alert_opened_reaches_reviewers_once(people, smtp, drain):
    birds = people["birds"]
    raise_alert(birds, None, rule_id="counts-positive", severity="error",
                message="negative counts")
    db.session.commit()
    raise_alert(birds, None, rule_id="counts-positive", severity="error",
                message="negative counts again")  # a recurrence is not a new alert
    db.session.commit()
    drain()
    assert smtp.recipients() == ["reviewer@x.org"]
    text = smtp.messages[0][1].get_body(("plain",)).get_content()
    assert "https://portal.test/alerts?programme=BIRDS" in text


def test_a_published_release_reaches_reviewers(people, smtp, drain):
    transition(_running(people["birds"]), "succeeded",
               output_summary={"release_version": "1.3"})
    drain()
    assert smtp.recipients() == ["reviewer@x.org"]
    assert "version 1.3" in smtp.messages[0][1]["Subject"]


def test_a_lost_run_is_announced_only_after_its_last_attempt(people, smtp, drain):
    from portal.services.retries import end_and_retry

    birds = people["birds"]
    birds.max_attempts = 2
    db.session.commit()
    first = _running(birds)
    outcome = end_and_retry(first, "worker lost: no heartbeat", reason="worker_lost")
    assert outcome.retry is not None
    drain()
    # no loss is announced while a retry may still succeed; reviewers hear of the
    # worker-lost alert the loss opened
    assert smtp.recipients() == ["reviewer@x.org"]
    assert "worker-lost" in smtp.messages[0][1]["Subject"]
    smtp.messages.clear()

    second = transition(outcome.retry, "running")
    assert end_and_retry(second, "worker lost: no heartbeat", reason="worker_lost").retry is None
    drain()
    # the last attempt's loss is news (the alert only recurs: no second "opened")
    assert sorted(smtp.recipients()) == ["operator@x.org", "owner@x.org", "steward@x.org"]
    lost = [m for tos, m in smtp.messages if tos == ["owner@x.org"]][0]
    assert "lost" in lost["Subject"] and "not retried" in lost["Subject"]


def test_a_run_handed_back_on_shutdown_is_not_news(people, smtp, drain):
    from portal.services.retries import end_and_retry

    outcome = end_and_retry(_running(people["birds"]), "the worker is stopping",
                            reason="handed_back", alert=False)
    assert outcome.retry is not None
    drain()
    assert smtp.messages == []


def test_a_rolled_back_change_leaves_no_event(people, smtp, drain):
    transition(_running(people["birds"]), "failed", message="boom", commit=False)
    db.session.rollback()
    drain()
    assert db.session.scalar(select(db.func.count()).select_from(NotificationEvent)) == 0
    assert smtp.messages == []


def test_losing_access_before_sending_skips_the_mail(people, smtp, drain):
    from portal.models import MonitoringProgrammeSteward
    from portal.services.notifications.delivery import deliver, fan_out

    transition(_running(people["birds"]), "failed", message="boom")
    event = db.session.scalar(select(NotificationEvent))
    result = fan_out(event.uuid)
    assert len(result.deliveries) == 3
    steward = db.session.scalar(select(MonitoringProgrammeSteward).where(
        MonitoringProgrammeSteward.user_id == people["users"]["operator"].id))
    steward.is_active = False
    db.session.commit()
    for delivery_id in result.deliveries:
        deliver(delivery_id)
    assert sorted(smtp.recipients()) == ["owner@x.org", "steward@x.org"]
    skipped = db.session.scalar(select(NotificationDelivery)
                                .where(NotificationDelivery.status == "skipped"))
    assert skipped.user_id == people["users"]["operator"].id
