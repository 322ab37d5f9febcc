"""Programme detail, release downloads, Run now / Dry run, the edit form and stewards."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeRun, MonitoringProgrammeSteward
from tests.factories import gen_run, gen_user


def test_detail_shows_pipeline_rules_stewards_and_empty_states(team, client, auth):
    auth.login("member@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert "<code>ingest.csv</code>" in page and "birds.csv" in page
    assert "taxon-present" in page and "scientificName" in page
    assert page.count("<summary>Raw JSON</summary>") == 2
    assert "owner@x.org" in page and "Institution ORNI" in page
    assert "No runs yet" in page and "Nothing published yet." in page


def test_run_buttons_follow_the_role(team, client, auth):
    auth.login("operator@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert 'hx-post="/programmes/BIRDS/run"' in page and "hx-confirm=" in page
    assert 'action="/programmes/BIRDS/dry-run"' in page
    assert "No runs yet — use <strong>Run now</strong>" in page
    auth.logout()
    auth.login("reviewer@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert 'hx-post="/programmes/BIRDS/run"' not in page
    assert '<button type="button" disabled aria-describedby="run-reason">Run now</button>' in page
    assert "Only the programme&#39;s owners, stewards and operators" in page


def test_releases_are_listed_and_served_path_safe(team, app, client, auth):
    folder = Path(app.config["PUBLISH_ROOT"]) / "BIRDS" / "1.0"
    folder.mkdir(parents=True)
    (folder / "richness.csv").write_text("site,richness\nA,3\n")
    secret = Path(app.config["PUBLISH_ROOT"]) / "secret.txt"
    secret.write_text("no")
    auth.login("member@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert 'href="/programmes/BIRDS/releases/1.0/richness.csv"' in page
    download = client.get("/programmes/BIRDS/releases/1.0/richness.csv")
    assert download.status_code == 200 and download.data == b"site,richness\nA,3\n"
    assert "attachment" in download.headers["Content-Disposition"]
    for bad in ("1.0/../../secret.txt", "../secret.txt", "1.0/missing.csv", "x/richness.csv",
                "1.0/%2e%2e/%2e%2e/secret.txt"):
        assert client.get(f"/programmes/BIRDS/releases/{bad}").status_code == 404, bad
    auth.logout()
    auth.login("outsider@x.org")
    assert client.get("/programmes/BIRDS/releases/1.0/richness.csv").status_code == 404


def test_run_now_queues_a_run_and_opens_its_page(team, client, auth):
    auth.login("operator@x.org")
    confirm = client.get("/programmes/BIRDS/run").get_data(as_text=True)
    assert "Run BIRDS now?" in confirm
    response = auth.post("/programmes/BIRDS/run")
    run = db.session.scalar(select(MonitoringProgrammeRun))
    assert response.status_code == 302 and response.headers["Location"] == f"/runs/{run.uuid}"
    assert (run.status, run.trigger, run.dry_run) == ("queued", "manual", False)
    assert run.requested_by.email == "operator@x.org"
    again = auth.post("/programmes/BIRDS/dry-run", headers={"HX-Request": "true"})
    assert again.status_code == 204 and again.headers["HX-Redirect"] == f"/runs/{run.uuid}"
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert "already queued" in page


def test_dry_run_is_marked(team, client, auth):
    auth.login("steward@x.org")
    auth.post("/programmes/BIRDS/dry-run")
    run = db.session.scalar(select(MonitoringProgrammeRun))
    assert run.dry_run
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert "Dry run of BIRDS" in page and "nothing is published" in page
    listing = client.get("/programmes/BIRDS/runs").get_data(as_text=True)
    assert "dry run" in listing


def _edit_data(programme, **changes) -> dict:
    data = {"title": programme.title, "description": "", "refresh_cadence": "weekly",
            "timezone": "Europe/Madrid", "scheduler_enabled": "y",
            "pipeline_definition": json.dumps(programme.pipeline_definition_json),
            "data_quality_rules": json.dumps(programme.data_quality_rules_json),
            "lineage_notes": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_edit_saves_and_audits_a_diff(team, client, auth):
    programme = team["programme"]
    auth.login("steward@x.org")
    form = client.get("/programmes/BIRDS/edit").get_data(as_text=True)
    assert "&#34;ingest.csv&#34;" in form or "&quot;ingest.csv&quot;" in form
    response = auth.post("/programmes/BIRDS/edit", _edit_data(
        programme, refresh_cadence="0 6 * * 1", lineage_notes="From the 2024 field season."))
    assert response.status_code == 302
    db.session.refresh(programme)
    assert programme.refresh_cadence == "0 6 * * 1" and programme.next_run_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "programme_updated"))
    assert event.actor_label == "steward@x.org"
    assert event.metadata_json["diff"]["refresh_cadence"] == {"before": "weekly",
                                                              "after": "0 6 * * 1"}
    assert set(event.metadata_json["diff"]) == {"refresh_cadence", "lineage_notes",
                                                "scheduler_enabled"}


def test_edit_errors_are_shown_next_to_the_field(team, client, auth):
    programme = team["programme"]
    auth.login("owner@x.org")
    bad_pipeline = {"steps": [{"key": "ingest", "type": "ingest.csv",
                               "params": {"source": "/etc/passwd"}}]}
    response = auth.post("/programmes/BIRDS/edit", _edit_data(
        programme, refresh_cadence="every tuesday", timezone="Mars/Olympus",
        pipeline_definition=json.dumps(bad_pipeline), data_quality_rules="{not json"))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is neither a cadence" in page and "not a known time zone" in page
    assert "$.steps[0].params.source" in page
    assert "$: not valid JSON" in page
    assert 'id="refresh_cadence-error"' in page
    db.session.refresh(programme)
    assert programme.refresh_cadence == "weekly"
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "programme_updated")) is None


def test_owner_manages_stewards(team, client, auth):
    newcomer = gen_user("new@x.org")
    auth.login("owner@x.org")
    page = client.get("/programmes/BIRDS/stewards").get_data(as_text=True)
    assert "reviewer@x.org" in page
    response = auth.post("/programmes/BIRDS/stewards",
                         {"form": "add", "add-email": "new@x.org", "add-role": "operator"})
    assert response.status_code == 302
    unknown = auth.post("/programmes/BIRDS/stewards",
                        {"form": "add", "add-email": "nobody@x.org", "add-role": "operator"})
    assert unknown.status_code == 400 and "No user with e-mail" in unknown.get_data(as_text=True)
    assignment = db.session.scalar(select(MonitoringProgrammeSteward).where(
        MonitoringProgrammeSteward.user_id == newcomer.id))
    assert assignment.role == "operator" and assignment.is_active
    response = auth.post("/programmes/BIRDS/stewards",
                         {"form": "remove", "remove-steward_id": str(assignment.id)})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert not assignment.is_active
    owner = db.session.scalar(select(MonitoringProgrammeSteward).where(
        MonitoringProgrammeSteward.role == "owner"))
    last = auth.post("/programmes/BIRDS/stewards",
                     {"form": "remove", "remove-steward_id": str(owner.id)})
    assert last.status_code == 409 and "last owner" in last.get_data(as_text=True)
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"steward_assigned", "steward_deactivated"} <= actions


def test_recent_runs_on_the_detail_page(team, client, auth):
    gen_run(team["programme"], status="blocked", trigger="scheduled")
    auth.login("member@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert "status-blocked" in page and "scheduler" in page
