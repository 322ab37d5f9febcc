"""Automatic retries: a lost run becomes a linked new attempt, with back-off and an alert
that a later success resolves; data failures and exhausted attempts are not retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeAlert, MonitoringProgrammeRun
from portal.services.reconcile import reconcile
from portal.services.runs import transition
from tests.engine.conftest import empty_queues
from tests.factories import gen_programme, gen_run, gen_user

VALID = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}


@pytest.fixture(autouse=True)
def _empty_queues():
    empty_queues()
    yield
    empty_queues()


def _lost_run(programme, **fields) -> MonitoringProgrammeRun:
    old = datetime.now(UTC) - timedelta(minutes=10)
    return gen_run(programme, status="running", started_at=old, heartbeat_at=old,
                   queued_at=old, queue_name="high", **fields)


def _runs(programme) -> list[MonitoringProgrammeRun]:
    return MonitoringProgrammeRun.query.filter_by(programme_id=programme.id) \
        .order_by(MonitoringProgrammeRun.id).all()


def test_a_lost_run_is_retried_once_after_its_back_off_and_a_success_resolves_the_alert(app):
    programme = gen_programme(pipeline_definition_json=VALID)
    lost = _lost_run(programme, uuid="11111111-1111-1111-1111-111111111111")

    summary = reconcile()

    first, retry = _runs(programme)
    assert first.status == "failed" and "retried as attempt 2 of 2" in first.error_message
    assert (retry.status, retry.attempt, retry.retry_of_id) == ("queued", 2, lost.id)
    assert summary.retried == [retry.uuid] and summary.redispatched == []  # backing off
    assert AuditEvent.query.filter_by(action="programme_run_retried",
                                      object_id=first.uuid).count() == 1
    [alert] = MonitoringProgrammeAlert.query.filter_by(rule_id="worker-lost").all()
    assert alert.state == "open" and alert.run_id == first.id

    backoff = app.config["RUN_RETRY_BACKOFF_SECONDS"]
    later = reconcile(now=datetime.now(UTC) + timedelta(seconds=backoff + 1))
    assert later.redispatched == [retry.uuid]

    transition(transition(retry, "running"), "succeeded")
    assert db.session.get(MonitoringProgrammeAlert, alert.id).state == "resolved"


def test_no_retry_past_max_attempts_and_none_for_a_data_failure(app):
    programme = gen_programme(pipeline_definition_json=VALID, max_attempts=2)
    last = _lost_run(programme, attempt=2)
    blocked = gen_run(gen_programme(pipeline_definition_json=VALID), status="blocked")

    reconcile()

    assert [(r.status, r.attempt) for r in _runs(programme)] == [("failed", 2)]
    assert "not retried: attempt 2 of 2" in last.error_message
    assert [r.status for r in _runs(blocked.programme)] == ["blocked"]


def test_the_run_page_links_the_attempts(app, client, auth):
    user = gen_user("admin@x.org", is_admin=True)
    programme = gen_programme(pipeline_definition_json=VALID)
    _lost_run(programme, requested_by_id=user.id)
    reconcile()
    first, retry = _runs(programme)
    auth.login("admin@x.org")

    page = client.get(f"/runs/{first.uuid}").get_data(as_text=True)
    assert "1 of 2" in page and f"/runs/{retry.uuid}" in page and "retried as" in page
    page = client.get(f"/runs/{retry.uuid}").get_data(as_text=True)
    assert "2 of 2" in page and f"/runs/{first.uuid}" in page and "retry of" in page


def test_a_hand_back_does_not_use_up_an_attempt(app):
    """A redeploy hands a run back (SIGTERM); that attempt does not count, so a worker
    lost afterwards is still retried; hand-backs in a loop stop at MAX_HANDBACKS."""
    from portal.services.retries import MAX_HANDBACKS, end_and_retry

    programme = gen_programme(pipeline_definition_json=VALID, max_attempts=2)
    run = gen_run(programme, status="running", started_at=datetime.now(UTC))
    handed = end_and_retry(run, "the worker stopped", reason="handed_back", alert=False)
    assert handed.retry is not None and handed.retry.attempt == 2
    assert "retried as attempt 2 of 3" in handed.message
    # Attempt 2 is lost: with max_attempts 2 it would end here, but the hand-back
    # did not count, so attempt 3 follows.
    lost = end_and_retry(transition(handed.retry, "running"), "worker lost",
                         reason="worker_lost")
    assert lost.retry is not None and lost.retry.attempt == 3
    final = end_and_retry(transition(lost.retry, "running"), "worker lost",
                          reason="worker_lost")
    assert final.retry is None and "not retried: attempt 3 of 3" in final.message

    looping = gen_run(gen_programme(pipeline_definition_json=VALID, max_attempts=1),
                      status="running", started_at=datetime.now(UTC))
    attempts = 0
    while looping is not None:
        outcome = end_and_retry(looping, "the worker stopped", reason="handed_back",
                                alert=False)
        looping = outcome.retry
        if looping is not None:
            transition(looping, "running")
        attempts += 1
    assert attempts == MAX_HANDBACKS + 1  # then it ends failed instead of looping
