"""An event-core pipeline with transforms, run by a real worker: join occurrences to
events, filter, aggregate, complete against the surveys, compute and publish — the
published figures equal an independent computation, and the run replays identical."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

from jobs.cli import ops_cli
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_user

CODE = "EVENTS"
SITES = [f"S{n}" for n in range(1, 7)]
YEARS = ["2019", "2020", "2021", "2022"]
TAXA = ["Parus major", "Erithacus rubecula", "Turdus merula", "Pica pica"]

PIPELINE = {"steps": [
    {"key": "occurrences", "type": "ingest.csv",
     "params": {"source": "occurrences.csv", "as": "occurrences"}},
    {"key": "events", "type": "ingest.csv", "params": {"source": "events.csv", "as": "events"}},
    {"key": "join", "type": "transform.join",
     "params": {"left": "occurrences", "right": "events", "on": ["eventID"],
                "cardinality": "many_to_one"}},
    {"key": "present", "type": "transform.filter",
     "params": {"condition": "occurrenceStatus = 'present' and individualCount > 0"}},
    {"key": "per-site", "type": "transform.aggregate",
     "params": {"by": ["locationID", "year", "scientificName"], "as": "counts",
                "aggregations": [{"column": "individualCount", "function": "sum",
                                  "as": "count"}]}},
    {"key": "grid", "type": "transform.complete",
     "params": {"table": "counts", "surveys": "events", "site": "locationID",
                "period": "year", "taxon": "scientificName", "values": ["count"],
                "effort": "samplingEffort", "as": "grid"}},
    {"key": "surveyed", "type": "transform.filter",
     "params": {"table": "grid", "condition": "surveyed", "as": "surveyed_grid"}},
    {"key": "abundance", "type": "compute.abundance",
     "params": {"table": "surveyed_grid", "taxon": "scientificName", "period": "year",
                "count": "count"}},
    {"key": "publish", "type": "publish.release",
     "params": {"name": "event-grid", "tables": ["grid", "abundance"], "license": "CC0-1.0"}},
]}


def write_event_core(folder: Path) -> tuple[list[dict], list[dict]]:
    """Generated events (some site/years never surveyed, some surveyed twice) and
    occurrences (absences, zero counts, an unknown event)."""
    rng = random.Random(11)
    events, occurrences = [], []
    for site in SITES:
        for year in YEARS:
            if rng.random() < 0.25:
                continue  # not surveyed that year
            for visit in range(rng.choice([1, 1, 2])):
                event_id = f"{site}-{year}-{visit}"
                events.append({"eventID": event_id, "locationID": site, "year": year,
                               "samplingEffort": str(rng.choice([30, 45, 60]))})
                for taxon in TAXA:
                    if rng.random() < 0.45:
                        status = rng.choice(["present", "present", "present", "absent"])
                        count = "0" if status == "absent" else str(rng.randint(0, 9))
                        occurrences.append({"occurrenceID": f"{event_id}-{taxon}",
                                            "eventID": event_id, "scientificName": taxon,
                                            "individualCount": count,
                                            "occurrenceStatus": status})
    occurrences.append({"occurrenceID": "stray", "eventID": "nowhere", "scientificName": TAXA[0],
                        "individualCount": "5", "occurrenceStatus": "present"})
    for name, rows in (("events.csv", events), ("occurrences.csv", occurrences)):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return events, occurrences


def expected_grid(events: list[dict], occurrences: list[dict]) -> dict[tuple, tuple]:
    """(site, year, taxon) -> (surveyed, effort, count), computed over plain rows."""
    by_event = {e["eventID"]: e for e in events}
    effort: dict = defaultdict(int)
    for e in events:
        effort[(e["locationID"], e["year"])] += int(e["samplingEffort"])
    counts: dict = defaultdict(int)
    taxa = set()
    for o in occurrences:
        e = by_event.get(o["eventID"])
        if e and o["occurrenceStatus"] == "present" and int(o["individualCount"]) > 0:
            counts[(e["locationID"], e["year"], o["scientificName"])] += int(o["individualCount"])
            taxa.add(o["scientificName"])
    grid = {}
    for site in sorted({e["locationID"] for e in events}):
        for year in sorted({e["year"] for e in events}):
            for taxon in sorted(taxa):
                surveyed = (site, year) in effort
                grid[(site, year, taxon)] = (
                    surveyed, float(effort[(site, year)]) if surveyed else None,
                    float(counts.get((site, year, taxon), 0)) if surveyed else None)
    return grid


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_event_core_join_and_complete_through_a_worker(app, runner, worker, engine_roots):
    folder = engine_roots / "data" / CODE
    folder.mkdir(parents=True, exist_ok=True)
    events, occurrences = write_event_core(folder)
    programme = gen_programme(CODE, pipeline_definition_json=PIPELINE,
                              data_quality_rules_json={"rules": []})

    run = wait_final(queue_run(programme, gen_user()).run.id)

    assert run.status == "succeeded", run.error_message
    steps = {step.step_key: step for step in run.steps}
    assert steps["join"].rows_in == len(occurrences)
    assert steps["join"].rows_out == len(occurrences) - 1  # the stray occurrence
    assert "1 row(s) of 'occurrences' found no match in 'events'" in steps["join"].log_excerpt

    release = Path(app.config["PUBLISH_ROOT"]) / CODE / "1.0"
    published = {(r["locationID"], r["year"], r["scientificName"]): r
                 for r in read_csv(release / "grid.csv")}
    expected = expected_grid(events, occurrences)
    assert list(published) == list(expected)
    for key, (surveyed, effort, count) in expected.items():
        row = published[key]
        assert row["surveyed"] == str(surveyed).lower(), key
        assert (float(row["samplingEffort"]) if row["samplingEffort"] else None) == effort, key
        assert (float(row["count"]) if row["count"] else None) == count, key
    # Both kinds of cell occur: surveyed with nothing found (0) and not surveyed (empty).
    assert any(c == 0.0 for _, _, c in expected.values())
    assert any(c is None for _, _, c in expected.values())
    assert steps["grid"].details_json["unsurveyed_cells"] == sum(
        1 for s, _, _ in expected.values() if not s)

    totals: dict = defaultdict(float)
    for (_, year, taxon), (surveyed, _, count) in expected.items():
        if surveyed:
            totals[(taxon, year)] += count
    abundance = read_csv(release / "abundance.csv")
    assert {(r["scientificName"], r["year"]): float(r["total_count"]) for r in abundance} == dict(
        totals)

    replay = runner.invoke(ops_cli, ["replay", run.uuid])
    assert replay.exit_code == 0, replay.output
    assert "identical" in replay.output
