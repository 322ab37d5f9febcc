"""The demo seed: idempotent, realistic, and scoped as the access rules say."""

from __future__ import annotations

import csv

from sqlalchemy import func, select

from portal import access
from portal.extensions import db
from portal.models import MonitoringProgramme, User
from portal.services.pipeline_spec import validate_pipeline, validate_rules


def test_seed_is_idempotent_and_valid(app, runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "operator@example.org" in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert "0 institutions, 0 users, 0 programmes" in second.output
    assert db.session.scalar(select(func.count()).select_from(MonitoringProgramme)) >= 3
    atlas = db.session.scalar(select(MonitoringProgramme)
                              .where(MonitoringProgramme.code == "BIRD-ATLAS"))
    assert atlas.next_run_at is not None and atlas.schedule_anchor_at is not None
    bioblitz = db.session.scalar(select(MonitoringProgramme)
                                 .where(MonitoringProgramme.code == "BIOBLITZ-2026"))
    assert bioblitz.next_run_at is None  # ad hoc: never scheduled
    for programme in db.session.scalars(select(MonitoringProgramme)):
        assert validate_pipeline(programme.pipeline_definition_json) == [], programme.code
        assert validate_rules(programme.data_quality_rules_json) == [], programme.code


def test_seed_writes_data_with_deliberate_defects(app, runner):
    runner.invoke(args=["demo", "seed"])
    from pathlib import Path

    path = Path(app.config["DATA_ROOT"]) / "bird-atlas" / "occurrence.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20000
    assert any(r["scientificName"] == "" for r in rows)
    assert any(r["decimalLatitude"] == "0" and r["decimalLongitude"] == "0" for r in rows)
    ids = [r["occurrenceID"] for r in rows]
    assert len(set(ids)) < len(ids)


def test_demo_users_see_only_their_programmes(app, runner):
    runner.invoke(args=["demo", "seed"])

    def visible(email: str) -> set[str]:
        user = db.session.scalar(select(User).where(User.email == email))
        return {p.code for p in db.session.scalars(access.visible_programmes(user))}

    assert visible("member@example.org") == {"BIRD-ATLAS", "CAMTRAP-SIERRA"}
    assert visible("outsider@example.org") == set()
    assert visible("reviewer@example.org") == {"BIRD-ATLAS", "DESERT-PLOTS"}
    assert len(visible("admin@example.org")) == 4


def test_demo_pipelines_run_on_the_generated_data(app, runner, tmp_path):
    """Every demo programme runs through the real steps: the atlas and the plots succeed
    with warnings, the camera traps are blocked by their future-dated records."""
    from pathlib import Path

    from jobs.replay import execute_steps

    runner.invoke(args=["demo", "seed"])
    outcomes = {}
    for programme in db.session.scalars(select(MonitoringProgramme)):
        execution = execute_steps(
            programme.pipeline_definition_json, programme.data_quality_rules_json,
            programme_code=programme.code, run_uuid="demo-check",
            data_root=Path(app.config["DATA_ROOT"]), publish_root=tmp_path / "releases",
            work_dir=tmp_path / "work" / programme.code, store_root=tmp_path / "store",
            dry_run=True)
        statuses = [result.status for _, result in execution.results]
        failing = {rule["id"] for _, result in execution.results
                   for rule in result.details.get("rules", []) if not rule["passed"]}
        outcomes[programme.code] = (statuses[-1], failing)
    assert outcomes["BIRD-ATLAS"][0] == "succeeded"
    assert {"occurrence-id-unique", "coordinates"} <= outcomes["BIRD-ATLAS"][1]
    assert outcomes["DESERT-PLOTS"] == ("succeeded", {"day-known", "no-redone-duplicates"})
    assert outcomes["CAMTRAP-SIERRA"][0] == "blocked"
    assert "not-future" in outcomes["CAMTRAP-SIERRA"][1]
    assert outcomes["BIOBLITZ-2026"] == ("succeeded", set())


def test_a_demo_member_signs_in_and_sees_their_institutions_programmes(app, runner, client,
                                                                       auth):
    from portal.services.demo import DEMO_PASSWORD

    runner.invoke(args=["demo", "seed"])
    response = auth.login("member@example.org", DEMO_PASSWORD)
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert 'href="/programmes/BIRD-ATLAS"' in page
    assert 'href="/programmes/CAMTRAP-SIERRA"' in page
    assert "DESERT-PLOTS" not in page
    assert client.get("/programmes/DESERT-PLOTS").status_code == 404
