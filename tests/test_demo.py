"""The demo seed: idempotent, realistic, and scoped as the access rules say."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import defaultdict

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

    path = Path(app.config["DATA_ROOT"]) / "BIRD-ATLAS" / "occurrence.csv"
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
    assert len(visible("admin@example.org")) == 6


def test_demo_pipelines_run_on_the_generated_data(app, runner, tmp_path):
    """Every demo programme runs through the real steps: the atlas and the plots succeed
    with warnings, the camera traps are blocked by their future-dated records."""
    from pathlib import Path

    from jobs.replay import execute_steps

    runner.invoke(args=["demo", "seed"])
    outcomes, executions = {}, {}
    for programme in db.session.scalars(select(MonitoringProgramme)):
        execution = execute_steps(
            programme.pipeline_definition_json, programme.data_quality_rules_json,
            programme_code=programme.code, run_uuid="demo-check",
            data_root=Path(app.config["DATA_ROOT"]) / programme.code,
            publish_root=tmp_path / "releases",
            work_dir=tmp_path / "work" / programme.code, store_root=tmp_path / "store",
            dry_run=True, licence=programme.licence or None)
        executions[programme.code] = execution
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
    assert outcomes["WOODLAND-EVENTS"] == ("succeeded", set())
    assert outcomes["CAMTRAP-DP"] == ("succeeded", set())
    data_root = Path(app.config["DATA_ROOT"])
    check_event_core_demo(executions["WOODLAND-EVENTS"], data_root / "WOODLAND-EVENTS")
    check_camera_trap_demo(executions["CAMTRAP-DP"], data_root / "CAMTRAP-DP")


def _rows(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode()), delimiter=delimiter))


def check_event_core_demo(execution, folder) -> None:
    """Occupancy counts the sites surveyed (from the event table), zeros included."""
    with zipfile.ZipFile(folder / "events.zip") as archive:
        events = _rows(archive.read("event.txt"), "\t")
        occurrences = _rows(archive.read("occurrence.txt"), "\t")
    site_year = {e["eventID"]: (e["locationID"], int(e["year"])) for e in events}
    surveyed = defaultdict(set)
    for site, year in site_year.values():
        surveyed[year].add(site)
    found = defaultdict(set)  # (taxon, year) -> sites where it was counted
    for o in occurrences:
        if int(o["individualCount"]) > 0:
            site, year = site_year[o["eventID"]]
            found[(o["scientificName"], year)].add(site)
    with_records = defaultdict(set)
    for (_, year), sites in found.items():
        with_records[year] |= sites
    # The data has surveys that found nothing: "any record" would undercount the surveys.
    assert any(len(with_records[year]) < len(sites) for year, sites in surveyed.items())
    occupancy = execution.tables["occupancy"]
    assert {(r["scientificName"], r["year"]): (r["sites_occupied"], r["sites_surveyed"])
            for r in occupancy.iter_rows(named=True)} == {
        (taxon, year): (len(found.get((taxon, year), ())), len(sites))
        for taxon in {o["scientificName"] for o in occurrences}
        for year, sites in surveyed.items()}
    richness = execution.tables["richness"]
    assert 0 in richness["species_richness"].to_list()  # surveyed, nothing found
    assert richness.height == sum(len(sites) for sites in surveyed.values())


def check_camera_trap_demo(execution, folder) -> None:
    """Abundance sums, per species and year, the maximum count seen at once per event of
    animals identified to species — not the per-image counts; the release takes the
    package's own licence."""
    descriptor = json.loads((folder / "camtrap" / "datapackage.json").read_text())
    species = {t["scientificName"] for t in descriptor["taxonomic"]
               if t["taxonRank"] == "species"}
    observations = _rows((folder / "camtrap" / "observations.csv").read_bytes())
    per_event, per_image = defaultdict(int), defaultdict(int)
    for o in observations:
        if o["observationType"] == "animal" and o["scientificName"] in species:
            key = (o["scientificName"], int(o["eventStart"][:4]), o["eventID"])
            per_event[key] = max(per_event[key], int(o["count"]))
            per_image[key[:2]] += int(o["count"])
    expected = defaultdict(int)
    for (taxon, year, _), count in per_event.items():
        expected[(taxon, year)] += count
    abundance = execution.tables["abundance"]
    assert {(r["scientificName"], r["year"]): r["total_count"]
            for r in abundance.iter_rows(named=True)} == expected
    assert all(per_image[key] >= expected[key] for key in expected)
    assert sum(per_image.values()) > sum(expected.values())  # a naive sum counts again
    assert "Homo sapiens" not in abundance["scientificName"].to_list()
    step, publish = execution.results[-1]
    assert step["type"] == "publish.release"
    assert (publish.details["licence"], publish.details["licence_from"]) == ("CC-BY-4.0",
                                                                             "input")


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


def test_a_seeded_demo_programme_runs_through_the_runner(app, runner):
    """The runner reads the demo's files from the programme's own folder DATA_ROOT/<CODE>/."""
    from jobs.tasks import execute_run
    from portal.models import MonitoringProgrammeRun
    from tests.factories import gen_run

    runner.invoke(args=["demo", "seed"])
    desert = db.session.scalar(select(MonitoringProgramme)
                               .where(MonitoringProgramme.code == "DESERT-PLOTS"))
    run = gen_run(desert, status="queued", dry_run=True)
    execute_run(run.id)
    db.session.rollback()
    run = db.session.get(MonitoringProgrammeRun, run.id, populate_existing=True)
    assert run.status == "succeeded", run.error_message
    assert [item["uri"] for item in run.lineage_json["inputs"]] == ["census.csv", "species.csv"]
