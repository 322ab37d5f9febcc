"""Event-core archives and Camtrap DP packages ingest as linked tables."""

from __future__ import annotations

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepError
from tests.packages import (
    camera_trap_rows,
    event_core_rows,
    write_camtrap_dp,
    write_event_core_archive,
)


def test_an_event_core_archive_becomes_linked_tables(make_ctx, data_root):
    rows = event_core_rows()
    write_event_core_archive(data_root / "events.zip", rows)
    ctx = make_ctx({"source": "events.zip"})
    result = get_step("ingest.dwca")(ctx)

    assert set(result.tables) == {"event", "occurrence", "measurementorfact"}
    assert ctx.primary_table == "event"
    assert result.tables["event"].height == len(rows.events)
    occurrence = result.tables["occurrence"]
    # The core id travels into each extension under its own name (no coreid column).
    assert "coreid" not in occurrence.columns
    assert occurrence.select("eventID", "scientificName", "individualCount").rows() == [
        (o["eventID"], o["scientificName"], o["individualCount"]) for o in rows.occurrences]
    assert result.tables["measurementorfact"]["eventID"].to_list() == [
        m["eventID"] for m in rows.measurements]
    assert result.details["linked_by"] == "eventID"
    assert result.details["extensions"] == {"occurrence": len(rows.occurrences),
                                            "measurementorfact": len(rows.measurements)}

    joined = get_step("transform.join")(make_ctx(
        {"left": "occurrence", "right": "event", "on": ["eventID"]},
        tables=result.tables, step_key="join"))
    assert joined.rows_out == len(rows.occurrences)


def test_linked_can_be_turned_off_and_on(make_ctx, data_root):
    write_event_core_archive(data_root / "events.zip", event_core_rows())
    flat = get_step("ingest.dwca")(make_ctx({"source": "events.zip", "linked": False}))
    assert set(flat.tables) == {"data", "data_occurrence", "data_measurementorfact"}
    assert "coreid" in flat.tables["data_occurrence"].columns
    named = get_step("ingest.dwca")(make_ctx({"source": "events.zip", "as": "visits"}))
    assert set(named.tables) == {"visits", "occurrence", "measurementorfact"}


def test_a_camtrap_package_becomes_three_tables(make_ctx, data_root):
    rows = camera_trap_rows()
    write_camtrap_dp(data_root / "camtrap", rows)
    ctx = make_ctx({"source": "camtrap/datapackage.json"})
    result = get_step("ingest.camtrap_dp")(ctx)

    assert list(result.tables) == ["deployments", "media", "observations"]
    assert [result.tables[n].height for n in result.tables] == [
        len(rows.deployments), len(rows.media), len(rows.observations)]
    ranks = dict(result.tables["observations"].select("scientificName", "taxonRank")
                 .unique().rows())
    assert ranks.get("Martes", "genus") == "genus" and ranks.get("Vulpes vulpes",
                                                                   "species") == "species"
    assert ctx.primary_table == "observations"
    uris = [entry["uri"] for entry in ctx.lineage["inputs"]]
    assert uris == ["camtrap/datapackage.json", "camtrap/deployments.csv", "camtrap/media.csv",
                    "camtrap/observations.csv"]
    assert ctx.lineage["inputs"][3]["table"] == "observations"
    assert result.details["license"] == "CC-BY-4.0"


def test_a_zipped_camtrap_package_with_a_prefix(make_ctx, data_root):
    rows = camera_trap_rows()
    write_camtrap_dp(data_root / "traps", rows, zipped=True)
    result = get_step("ingest.camtrap_dp")(make_ctx({"source": "traps.zip", "prefix": "ct"}))
    assert list(result.tables) == ["ct_deployments", "ct_media", "ct_observations"]
    assert result.tables["ct_observations"].height == len(rows.observations)


def test_a_package_without_observations_is_not_a_camtrap_dp(make_ctx, data_root):
    rows = camera_trap_rows()
    folder = data_root / "partial"
    write_camtrap_dp(folder, rows)
    descriptor = (folder / "datapackage.json").read_text().replace('"observations"', '"obs"')
    (folder / "datapackage.json").write_text(descriptor)
    with pytest.raises(StepError, match="not a Camtrap DP package: no resource named "
                                        "observations"):
        get_step("ingest.camtrap_dp")(make_ctx({"source": "partial/datapackage.json"}))


def test_darwin_core_csv_step_given_a_zip_names_the_right_steps(make_ctx, data_root):
    write_event_core_archive(data_root / "events.zip", event_core_rows())
    with pytest.raises(StepError, match="use ingest.dwca .* or ingest.frictionless"):
        get_step("ingest.darwin_core")(make_ctx({"source": "events.zip"}))


def test_orphan_extension_rows_are_kept_and_reported(make_ctx, data_root):
    rows = event_core_rows()
    rows.occurrences.append({"eventID": "nowhere", "occurrenceID": "x",
                             "scientificName": "Pica pica", "individualCount": "1",
                             "occurrenceStatus": "present"})
    write_event_core_archive(data_root / "orphans.zip", rows)
    ctx = make_ctx({"source": "orphans.zip"})
    result = get_step("ingest.dwca")(ctx)
    assert result.details["orphans"] == {"occurrence": 1}
    assert "1 row(s) of occurrence name an eventID missing from the core" in ctx.log_lines
    assert result.tables["occurrence"].filter(pl.col("eventID") == "nowhere").height == 1


def test_a_package_read_by_several_ingest_steps_is_one_source(make_ctx, data_root, tmp_path):
    import json

    write_camtrap_dp(data_root / "camtrap", camera_trap_rows())
    ctx = make_ctx({})
    for resource in ("deployments", "observations"):
        ctx.params = {"source": "camtrap/datapackage.json", "resource": resource,
                      "as": resource}
        ctx.tables.update(get_step("ingest.frictionless")(ctx).tables)
    ctx.params = {"name": "traps", "tables": ["deployments"], "license": "CC0-1.0"}
    get_step("publish.release")(ctx)
    package = json.loads((tmp_path / "publish" / "TEST" / "1.0" / "datapackage.json")
                         .read_text())
    assert [source["path"] for source in package["sources"]] == [
        "camtrap/datapackage.json", "camtrap/deployments.csv", "camtrap/observations.csv"]
