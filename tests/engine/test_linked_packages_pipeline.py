"""An event-core archive and a Camtrap DP package, each run by a real worker from ingest
to a release; the published indicators equal an independent computation over the rows
the test wrote."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

from portal.services import demo_recipes
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_user
from tests.packages import (
    camera_trap_rows,
    event_core_rows,
    write_camtrap_dp,
    write_event_core_archive,
)


def demo_recipe(code: str, publish: dict) -> tuple[dict, dict]:
    """The pipeline and rules of a demo programme (portal.services.demo_recipes), its
    release step publishing with ``publish`` params instead."""
    recipe = next(p for p in demo_recipes.PROGRAMMES if p["code"] == code)
    steps = [dict(step, params=publish) if step["type"] == "publish.release" else step
             for step in recipe["pipeline"]["steps"]]
    return {"steps": steps}, recipe["rules"]


EVENT_PIPELINE, EVENT_RULES = demo_recipe(
    "WOODLAND-EVENTS", {"name": "event-core", "license": "CC-BY-4.0"})
CAMERA_PIPELINE, CAMERA_RULES = demo_recipe(
    "CAMTRAP-DP", {"name": "camera-traps", "license": "CC-BY-4.0"})


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def expected_event_indicators(rows) -> tuple[dict, dict, dict]:
    """Richness per site/year, abundance and occupancy per taxon/year, over plain rows."""
    site_of = {e["eventID"]: (e["locationID"], e["year"]) for e in rows.events}
    surveyed = set(site_of.values())
    totals: dict = defaultdict(int)
    for o in rows.occurrences:
        totals[(*site_of[o["eventID"]], o["scientificName"])] += int(o["individualCount"])
    taxa = sorted({taxon for *_, taxon in totals})
    richness = {(site, year): sum(1 for t in taxa if totals.get((site, year, t), 0) > 0)
                for site, year in surveyed}
    abundance, occupancy = {}, {}
    for year in sorted({y for _, y in surveyed}):
        sites = [s for s, y in surveyed if y == year]
        for taxon in taxa:
            abundance[(taxon, year)] = sum(totals.get((s, year, taxon), 0) for s in sites)
            occupied = sum(1 for s in sites if totals.get((s, year, taxon), 0) > 0)
            occupancy[(taxon, year)] = (occupied, len(sites))
    return richness, abundance, occupancy


def test_event_core_archive_to_a_release(app, worker, engine_roots):
    folder = engine_roots / "data" / "EVENTCORE"
    folder.mkdir(parents=True, exist_ok=True)
    rows = event_core_rows()
    write_event_core_archive(folder / "events.zip", rows)
    programme = gen_programme("EVENTCORE", pipeline_definition_json=EVENT_PIPELINE,
                              data_quality_rules_json=EVENT_RULES)

    run = wait_final(queue_run(programme, gen_user()).run.id)

    assert run.status == "succeeded", run.error_message
    steps = {step.step_key: step for step in run.steps}
    assert {r["id"]: r["table"] for r in steps["checks"].details_json["rules"]} == {
        "effort": "event", "counts": "occurrence"}
    richness, abundance, occupancy = expected_event_indicators(rows)
    # A site surveyed with nothing found has richness 0; unsurveyed site/years are absent.
    assert 0 in richness.values()
    assert len(richness) < 5 * 3

    release = Path(app.config["PUBLISH_ROOT"]) / "EVENTCORE" / "1.0"
    assert {(r["locationID"], r["year"]): int(r["species_richness"])
            for r in read_csv(release / "richness.csv")} == richness
    assert {(r["scientificName"], r["year"]): int(r["total_count"])
            for r in read_csv(release / "abundance.csv")} == abundance
    assert {(r["scientificName"], r["year"]): (int(r["sites_occupied"]),
                                               int(r["sites_surveyed"]))
            for r in read_csv(release / "occupancy.csv")} == occupancy
    usage = steps["abundance"].details_json["usage"]
    assert usage["excluded"] == {"not_surveyed": usage["rows"] - usage["used"]}
    package = json.loads((release / "datapackage.json").read_text())
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert [s["path"] for s in package["sources"]] == ["events.zip"]


def expected_camera_abundance(rows) -> dict:
    """Sum over events of the maximum count per event, animals at species rank only."""
    rank = {t["scientificName"]: t["taxonRank"] for t in rows.taxonomic}
    per_event: dict = {}
    for o in rows.observations:
        if o["observationType"] == "animal" and rank.get(o["scientificName"]) == "species":
            key = (o["eventID"], o["scientificName"], o["eventStart"][:4])
            per_event[key] = max(per_event.get(key, 0), int(o["count"]))
    totals: dict = defaultdict(int)
    for (_, taxon, year), count in per_event.items():
        totals[(taxon, year)] += count
    return dict(totals)


def test_camera_trap_package_to_a_release(app, worker, engine_roots):
    folder = engine_roots / "data" / "CAMERAS"
    rows = camera_trap_rows()
    write_camtrap_dp(folder / "camtrap", rows)
    programme = gen_programme("CAMERAS", pipeline_definition_json=CAMERA_PIPELINE,
                              data_quality_rules_json=CAMERA_RULES)

    run = wait_final(queue_run(programme, gen_user()).run.id)

    assert run.status == "succeeded", run.error_message
    release = Path(app.config["PUBLISH_ROOT"]) / "CAMERAS" / "1.0"
    published = {(r["scientificName"], r["year"]): int(r["total_count"])
                 for r in read_csv(release / "abundance.csv")}
    expected = expected_camera_abundance(rows)
    assert published == expected
    # Summing every image's count instead would over-count the same animals.
    naive = sum(int(o["count"]) for o in rows.observations if o["count"])
    assert sum(expected.values()) < naive
    assert not any(taxon in ("Homo sapiens", "Martes") for taxon, _ in published)
    inputs = [entry["uri"] for entry in run.lineage_json["inputs"]]
    assert inputs[:1] == ["camtrap/datapackage.json"] and len(inputs) == 4
