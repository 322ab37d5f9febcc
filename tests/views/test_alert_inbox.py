"""The alert inbox: scope, filters, in-place acknowledge and resolve, history."""

from __future__ import annotations

from portal.extensions import db
from portal.models import MonitoringProgrammeAlert
from portal.services import alerts as alert_service
from tests.factories import gen_alert, gen_programme, gen_run

HX = {"HX-Request": "true"}


def test_inbox_is_scoped_and_filtered(team, client, auth):
    gen_alert(team["programme"], rule_id="taxon-present", severity="error")
    gen_alert(team["programme"], rule_id="old-rule", severity="warning", state="resolved")
    gen_alert(gen_programme("BATS"), rule_id="bats-rule")
    auth.login("member@x.org")
    page = client.get("/alerts").get_data(as_text=True)
    assert "taxon-present" in page and "old-rule" not in page and "bats-rule" not in page
    assert "Reviewers and up triage alerts." in page  # members see, but do not triage
    resolved = client.get("/alerts?state=resolved").get_data(as_text=True)
    assert "old-rule" in resolved and "taxon-present" not in resolved
    warnings = client.get("/alerts?state=all&severity=warning").get_data(as_text=True)
    assert "old-rule" in warnings and "taxon-present" not in warnings
    fragment = client.get("/alerts?programme=BIRDS", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="alert-results">')
    assert "nothing needs attention" in client.get("/alerts?severity=critical").get_data(
        as_text=True)


def test_acknowledge_then_resolve_in_place(team, client, auth):
    alert = gen_alert(team["programme"], rule_id="taxon-present")
    auth.login("reviewer@x.org")
    page = client.get("/alerts").get_data(as_text=True)
    assert f'hx-post="/alerts/{alert.uuid}/acknowledge"' in page
    assert f'hx-target="#alert-{alert.uuid}"' in page
    row = auth.post(f"/alerts/{alert.uuid}/acknowledge", {"note": "looking into it"},
                    headers=HX).get_data(as_text=True)
    assert row.lstrip().startswith(f'<tbody id="alert-{alert.uuid}"')
    assert 'data-state="acknowledged"' in row and "looking into it" in row
    refused = auth.post(f"/alerts/{alert.uuid}/resolve", {"note": " "}, headers=HX)
    assert refused.status_code == 200
    assert "Add a note saying what was done." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(MonitoringProgrammeAlert, alert.id).state == "acknowledged"
    row = auth.post(f"/alerts/{alert.uuid}/resolve", {"note": "fixed the source file"},
                    headers=HX).get_data(as_text=True)
    assert 'data-state="resolved"' in row and "fixed the source file" in row
    assert "reviewer@x.org" in row


def test_without_htmx_the_inbox_redirects_with_a_message(team, client, auth):
    alert = gen_alert(team["programme"])
    auth.login("operator@x.org")
    response = auth.post(f"/alerts/{alert.uuid}/acknowledge", {"note": ""})
    assert response.status_code == 302
    page = client.get("/alerts").get_data(as_text=True)
    assert "is acknowledged" in page


def test_history_shows_occurrences_and_auto_resolution(team, client, auth):
    programme = team["programme"]
    first, second = gen_run(programme), gen_run(programme)
    result = {"id": "taxon-present", "severity": "error", "passed": False,
              "failing_rows": 2, "message": "2 rows lack a taxon"}
    alert_service.sync_rule_alerts(programme, first, [result])
    alert_service.sync_rule_alerts(programme, second, [result])
    alert_service.sync_rule_alerts(programme, second, [{**result, "passed": True}])
    db.session.commit()
    auth.login("reviewer@x.org")
    page = client.get("/alerts?state=resolved").get_data(as_text=True)
    assert "History (3)" in page and "seen again (2×)" in page
    assert "resolved automatically" in page and first.uuid[:8] in page


def test_triage_needs_the_role(team, client, auth):
    alert = gen_alert(team["programme"])
    auth.login("member@x.org")
    assert auth.post(f"/alerts/{alert.uuid}/acknowledge", headers=HX).status_code == 403
    auth.logout()
    auth.login("outsider@x.org")
    assert auth.post(f"/alerts/{alert.uuid}/resolve", {"note": "x"}).status_code == 404
