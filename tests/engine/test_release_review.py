"""The sign-off gate through a real worker: a passing run stages its release and ends
awaiting_review; the operator who triggered it cannot approve; a reviewer approves
(published once, the approver in the metadata) or rejects (nothing published, no
version consumed, an alert says why); a newer run supersedes the pending candidate;
the diff matches an independent count; a withdrawal moves "latest" back."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeAlert, ReleaseCandidate
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("worker")]

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "counts.csv"}},
    {"key": "richness", "type": "compute.species_richness",
     "params": {"taxon": "species", "site": "plot", "period": "year"}},
    {"key": "publish", "type": "publish.release",
     "params": {"name": "plots", "license": "CC0-1.0"}},
]}
FIRST = [("2020", "1", "Pheidole"), ("2020", "1", "Myrmica"), ("2020", "2", "Myrmica"),
         ("2021", "1", "Pheidole")]
SECOND = [("2020", "1", "Pheidole"), ("2020", "2", "Myrmica"), ("2020", "2", "Lasius"),
          ("2021", "1", "Pheidole"), ("2021", "3", "Tapinoma")]


def write_counts(roots: Path, code: str, rows) -> None:
    folder = roots / "data" / code
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{y},{p},{s}\n" for y, p, s in rows)
    (folder / "counts.csv").write_text("year,plot,species\n" + body)


def setup_programme(roots: Path, code: str, rows=FIRST):
    write_counts(roots, code, rows)
    programme = gen_programme(code, pipeline_definition_json=PIPELINE,
                              publish_requires_review=True)
    operator, reviewer = gen_user(), gen_user()
    gen_steward(programme, operator, "operator")
    gen_steward(programme, reviewer, "reviewer")
    return programme, operator, reviewer


def versions(app, code: str) -> list[str]:
    base = Path(app.config["PUBLISH_ROOT"]) / code
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def candidate_of(run) -> ReleaseCandidate:
    db.session.rollback()
    return db.session.scalar(select(ReleaseCandidate).where(ReleaseCandidate.run_id == run.id)
                             .execution_options(populate_existing=True))


def open_alert(programme, rule_id: str) -> MonitoringProgrammeAlert | None:
    db.session.rollback()
    return db.session.scalar(select(MonitoringProgrammeAlert).where(
        MonitoringProgrammeAlert.programme_id == programme.id,
        MonitoringProgrammeAlert.rule_id == rule_id,
        MonitoringProgrammeAlert.state == "open").execution_options(populate_existing=True))


def test_gate_stages_then_a_reviewer_approves_and_the_operator_cannot(app, client, auth,
                                                                      engine_roots):
    programme, operator, reviewer = setup_programme(engine_roots, "GATED")

    run = wait_final(queue_run(programme, operator).run.id)

    assert run.status == "awaiting_review", run.error_message
    assert versions(app, "GATED") == []  # staged, not published, no version taken
    candidate = candidate_of(run)
    assert candidate.status == "pending" and candidate.version is None
    assert open_alert(programme, "release-review") is not None  # the inbox shows it

    auth.login(operator.email)
    refused = auth.post_json(f"/api/v1/programmes/GATED/candidates/{candidate.uuid}/approve")
    assert refused.status_code == 403  # an operator has no review role
    auth.logout()
    gen_steward(programme, operator, "reviewer")  # even as a reviewer: they triggered it
    auth.login(operator.email)
    refused = auth.post_json(f"/api/v1/programmes/GATED/candidates/{candidate.uuid}/approve")
    assert refused.status_code == 403 and "triggered" in refused.get_json()["message"]
    assert candidate_of(run).status == "pending" and versions(app, "GATED") == []
    auth.logout()

    auth.login(reviewer.email)
    page = client.get(f"/programmes/GATED/candidates/{candidate.uuid}")
    assert b"Approve and publish" in page.data
    approved = auth.post(f"/programmes/GATED/candidates/{candidate.uuid}/approve")
    assert approved.status_code == 302 and approved.location.endswith("/releases/1.0")

    assert versions(app, "GATED") == ["1.0"]
    release = Path(app.config["PUBLISH_ROOT"]) / "GATED" / "1.0"
    package = json.loads((release / "datapackage.json").read_text())
    lineage = json.loads((release / "lineage.json").read_text())
    assert package["version"] == "1.0" and package["review"]["approved_by"] == reviewer.email
    assert lineage["review"]["approved_by"] == reviewer.email
    assert lineage["release"]["version"] == "1.0" and lineage["run_uuid"] == run.uuid
    assert candidate_of(run).status == "approved" and candidate_of(run).version == "1.0"
    assert open_alert(programme, "release-review") is None
    again = auth.post_json(f"/api/v1/programmes/GATED/candidates/{candidate.uuid}/approve")
    assert again.status_code == 409 and versions(app, "GATED") == ["1.0"]  # consumed once
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "release_approved"))
    assert event.actor_id == reviewer.id and event.metadata_json["version"] == "1.0"

    page = client.get("/programmes/GATED/releases/1.0")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert reviewer.email in text and "richness.csv" in text and run.uuid in text


def test_reject_publishes_nothing_and_consumes_no_version(app, auth, engine_roots):
    programme, operator, reviewer = setup_programme(engine_roots, "REJECTED")
    run = wait_final(queue_run(programme, operator).run.id)
    candidate = candidate_of(run)
    auth.login(reviewer.email)

    no_note = auth.post_json(f"/api/v1/programmes/REJECTED/candidates/{candidate.uuid}/reject")
    assert no_note.status_code == 400 and no_note.get_json()["field"] == "note"
    rejected = auth.post_json(f"/api/v1/programmes/REJECTED/candidates/{candidate.uuid}/reject",
                              {"note": "plot 2 was double-entered"})

    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert versions(app, "REJECTED") == []
    staged = Path(app.config["PUBLISH_ROOT"]) / "REJECTED" / ".candidates" / run.uuid
    assert not staged.exists()  # discarded
    alert = open_alert(programme, "release-rejected")
    assert alert is not None and "double-entered" in alert.message
    assert open_alert(programme, "release-review") is None

    write_counts(engine_roots, "REJECTED", SECOND)
    second = wait_final(queue_run(programme, operator).run.id)
    approved = auth.post_json(
        f"/api/v1/programmes/REJECTED/candidates/{candidate_of(second).uuid}/approve")
    assert approved.get_json()["version"] == "1.0"  # the rejection took no version


def test_a_newer_run_supersedes_the_pending_candidate(app, auth, engine_roots):
    programme, operator, reviewer = setup_programme(engine_roots, "SUPERSEDE")
    first = wait_final(queue_run(programme, operator).run.id)
    write_counts(engine_roots, "SUPERSEDE", SECOND)
    second = wait_final(queue_run(programme, operator).run.id)

    assert second.status == "awaiting_review"
    old, new = candidate_of(first), candidate_of(second)
    assert (old.status, new.status) == ("superseded", "pending")
    assert not (Path(app.config["PUBLISH_ROOT"]) / "SUPERSEDE" / ".candidates"
                / first.uuid).exists()
    auth.login(reviewer.email)
    stale = auth.post_json(f"/api/v1/programmes/SUPERSEDE/candidates/{old.uuid}/approve")
    assert stale.status_code == 409
    listed = auth._client.get("/api/v1/programmes/SUPERSEDE/candidates").get_json()
    assert [c["status"] for c in listed["candidates"]] == ["pending", "superseded"]


def richness_by_key(data: str) -> dict[tuple[str, str], str]:
    rows = list(csv.DictReader(io.StringIO(data)))
    value = [c for c in rows[0] if c not in ("plot", "year")][0]
    return {(r["plot"], r["year"]): r[value] for r in rows}


def test_diff_matches_an_independent_count_and_withdrawal_moves_latest_back(app, auth, client,
                                                                            engine_roots):
    programme, operator, reviewer = setup_programme(engine_roots, "DIFFED")
    gen_steward(programme, reviewer, "owner")
    auth.login(reviewer.email)
    for rows in (FIRST, SECOND):
        write_counts(engine_roots, "DIFFED", rows)
        run = wait_final(queue_run(programme, operator).run.id)
        auth.post_json(f"/api/v1/programmes/DIFFED/candidates/{candidate_of(run).uuid}/approve")
    base = Path(app.config["PUBLISH_ROOT"]) / "DIFFED"
    before = richness_by_key((base / "1.0" / "richness.csv").read_text())
    after = richness_by_key((base / "1.1" / "richness.csv").read_text())
    expected = {"added": len(after.keys() - before.keys()),
                "removed": len(before.keys() - after.keys()),
                "changed": sum(before[k] != after[k] for k in before.keys() & after.keys())}

    body = client.get("/api/v1/programmes/DIFFED/releases/1.1").get_json()

    rows = body["diff"]["tables"]["richness"]["rows"]
    assert body["diff"]["from"] == "1.0"
    assert {k: rows[k] for k in expected} == expected
    assert expected["changed"] and expected["added"]  # the data really moved
    stored = json.loads((base / "1.1" / "diff.json").read_text())  # made with the candidate
    assert stored["tables"]["richness"]["rows"] == rows and stored["to"] == "1.1"

    withdrawn = auth.post_json("/api/v1/programmes/DIFFED/releases/1.1/withdraw",
                               {"reason": "plot 3 was outside the study area"})
    assert withdrawn.status_code == 200
    listing = client.get("/api/v1/programmes/DIFFED/releases").get_json()
    assert listing["latest"] == "1.0"
    assert listing["releases"][0]["withdrawn"]["reason"] == "plot 3 was outside the study area"
    assert (base / "1.1" / "richness.csv").exists()  # the files stay
    assert "1.1" in json.loads((base / "withdrawn.json").read_text())
    page = client.get("/programmes/DIFFED/releases/1.1").get_data(as_text=True)
    assert "withdrawn" in page and "outside the study area" in page

    write_counts(engine_roots, "DIFFED", FIRST + [("2022", "4", "Lasius")])
    run = wait_final(queue_run(programme, operator).run.id)
    candidate = client.get(
        f"/api/v1/programmes/DIFFED/candidates/{candidate_of(run).uuid}").get_json()
    assert candidate["diff"]["from"] == "1.0"  # the withdrawn 1.1 is not "previous"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "release_withdrawn"))
    assert event.metadata_json["version"] == "1.1"
