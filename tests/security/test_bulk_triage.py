"""Hostile input to bulk triage (POST /alerts/bulk): forged, oversized and mixed selections
change nothing they should not, and every refusal says why."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeAlert
from tests.factories import gen_alert, gen_programme, gen_steward, gen_user


@pytest.fixture
def alerts(app):
    """Two alerts the reviewer may triage, one already resolved, one on a hidden programme."""
    mine, hidden = gen_programme("MINE"), gen_programme("HIDDEN")
    reviewer = gen_user("reviewer@x.org")
    gen_steward(mine, reviewer, "reviewer")
    return {"open": [gen_alert(mine, rule_id="a"), gen_alert(mine, rule_id="b")],
            "resolved": gen_alert(mine, rule_id="c", state="resolved"),
            "hidden": gen_alert(hidden, rule_id="secret")}


def states() -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(MonitoringProgrammeAlert.rule_id,
                                          MonitoringProgrammeAlert.state)).all())


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def flashed(client) -> str:
    return client.get("/alerts").get_data(as_text=True)


def test_a_mixed_selection_changes_only_what_the_user_may_triage(alerts, client, auth):
    auth.login("reviewer@x.org")
    chosen = [a.uuid for a in alerts["open"]] + [alerts["resolved"].uuid, alerts["hidden"].uuid]
    response = auth.post("/alerts/bulk", {"action": "resolve", "note": "re-keyed",
                                          "alert": chosen})
    assert response.status_code == 302
    assert states() == {"a": "resolved", "b": "resolved", "c": "resolved", "secret": "open"}
    page = flashed(client)
    assert "2 alerts resolved." in page and "already resolved" in page
    assert "not found" in page and "HIDDEN" not in page and "secret" not in page


@pytest.mark.parametrize("form,reason", [
    ({"action": "resolve", "note": ""}, "Add a note"),  # resolve needs the note, checked once
    ({"action": "resolve", "note": "x" * 2001}, "too long"),
    ({"action": "delete", "note": "x"}, "Choose Acknowledge or Resolve"),
    ({"action": "acknowledge", "note": "x", "alert": ["' OR 1=1 --", "../" * 40]}, "not found"),
    ({"action": "acknowledge", "note": "x", "alert": []}, "Select at least one alert"),
    ({"action": "acknowledge", "note": "x", "alert": [f"{n:036d}" for n in range(201)]},
     "at most 200"),
])
def test_bad_requests_change_nothing_and_say_why(alerts, client, auth, form, reason):
    auth.login("reviewer@x.org")
    data = {"alert": [a.uuid for a in alerts["open"]], **form}
    before, events = states(), audit_count()
    assert auth.post("/alerts/bulk", data).status_code == 302
    assert states() == before
    assert audit_count() == events
    assert reason in flashed(client)


def test_control_characters_are_refused_at_the_door(alerts, client, auth):
    auth.login("reviewer@x.org")
    response = auth.post("/alerts/bulk", {"action": "acknowledge", "note": "x",
                                          "alert": [alerts["open"][0].uuid, "\x00" * 40]})
    assert response.status_code == 400
    assert states()["a"] == "open"


def test_without_the_csrf_token_nothing_changes(alerts, client, auth):
    auth.login("reviewer@x.org")
    response = client.post("/alerts/bulk", data={"action": "acknowledge", "note": "x",
                                                 "alert": [alerts["open"][0].uuid]})
    assert response.status_code == 400
    assert states()["a"] == "open"


def test_signed_out_is_sent_to_sign_in(alerts, client):
    response = client.post("/alerts/bulk", data={"action": "acknowledge"})
    assert response.status_code in (302, 400, 401)
    assert states()["a"] == "open"
