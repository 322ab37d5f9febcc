"""Demo programmes that run the recipes of docs/recipes.md on generated packages.

``WOODLAND-EVENTS`` reads an event-core Darwin Core Archive, joins occurrences to their
events, and completes the site × year × species grid against the surveys, so a site
surveyed with nothing found counts as 0 and occupancy's denominator is the sites
surveyed. ``CAMTRAP-DP`` reads a Camtrap DP package, keeps animal observations at
species rank and takes the maximum count per event before the indicators. Its release
carries the licence the package declares (the programme sets none).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from portal.services import demo_packages

GRID = {"taxon": "scientificName", "site": "locationID", "period": "year", "count": "count"}

PROGRAMMES: list[dict[str, Any]] = [
    {
        "code": "WOODLAND-EVENTS",
        "title": "Woodland bird point-count events",
        "description": "Spring point counts at 12 woodland sites, published as an event-core "
                       "Darwin Core Archive: richness, abundance and occupancy that know "
                       "which sites were surveyed.",
        "refresh_cadence": "annual",
        "timezone": "Europe/Madrid",
        "scheduler_enabled": False,
        "institutions": ["DEL"],
        "licence": "CC-BY-4.0",
        "pipeline": {"steps": [
            {"key": "ingest", "type": "ingest.dwca", "params": {"source": "events.zip"}},
            {"key": "checks", "type": "validate.rules"},
            {"key": "join", "type": "transform.join",
             "params": {"left": "occurrence", "right": "event", "on": ["eventID"],
                        "as": "obs"}},
            {"key": "per-site", "type": "transform.aggregate",
             "params": {"table": "obs", "by": ["locationID", "year", "scientificName"],
                        "as": "counts",
                        "aggregations": [{"column": "individualCount", "function": "sum",
                                          "as": "count"}]}},
            {"key": "grid", "type": "transform.complete",
             "params": {"table": "counts", "surveys": "event", "site": "locationID",
                        "period": "year", "taxon": "scientificName", "values": ["count"],
                        "effort": "samplingEffort", "as": "grid"}},
            {"key": "richness", "type": "compute.species_richness",
             "params": {"table": "grid", **GRID}},
            {"key": "abundance", "type": "compute.abundance",
             "params": {"table": "grid", "taxon": "scientificName", "period": "year",
                        "count": "count"}},
            {"key": "occupancy", "type": "compute.occupancy",
             "params": {"table": "grid", **GRID}},
            {"key": "publish", "type": "publish.release", "params": {"name": "woodland-events"}},
        ]},
        "rules": {"rules": [
            {"id": "effort", "type": "range", "severity": "error", "table": "event",
             "column": "samplingEffort", "min": 1},
            {"id": "counts", "type": "range", "severity": "error", "table": "occurrence",
             "column": "individualCount", "min": 0},
        ]},
        "lineage_notes": "Exported from the field database as a GBIF event-core archive "
                         "(the IPT's EML declares CC BY 4.0).",
    },
    {
        "code": "CAMTRAP-DP",
        "title": "Montane camera traps (Camtrap DP)",
        "description": "Camera traps at 8 stations, two months each spring; images "
                       "classified per image. Abundance is the maximum seen at once per "
                       "event, of animals identified to species.",
        "refresh_cadence": "annual",
        "timezone": "Europe/Madrid",
        "scheduler_enabled": False,
        "institutions": ["DEL"],
        "licence": "",  # the package's own (datapackage.json "licenses")
        "pipeline": {"steps": [
            {"key": "ingest", "type": "ingest.camtrap_dp",
             "params": {"source": "camtrap/datapackage.json"}},
            {"key": "checks", "type": "validate.rules"},
            {"key": "animals", "type": "transform.filter",
             "params": {"table": "observations", "as": "animals",
                        "condition": "observationType = 'animal' and taxonRank = 'species'"}},
            {"key": "per-event", "type": "transform.aggregate",
             "params": {"table": "animals", "by": ["deploymentID", "eventID", "scientificName"],
                        "as": "events",
                        "aggregations": [{"column": "count", "function": "max", "as": "count"},
                                         {"column": "eventStart", "function": "first",
                                          "as": "eventStart"}]}},
            {"key": "where", "type": "transform.join",
             "params": {"left": "events", "right": "deployments", "on": ["deploymentID"]}},
            {"key": "year", "type": "transform.derive",
             "params": {"table": "events", "columns": {"year": "year(eventStart)"}}},
            {"key": "abundance", "type": "compute.abundance",
             "params": {"table": "events", "taxon": "scientificName", "period": "year",
                        "count": "count"}},
            {"key": "richness", "type": "compute.species_richness",
             "params": {"table": "events", **GRID}},
            {"key": "publish", "type": "publish.release", "params": {"name": "camtrap-dp"}},
        ]},
        "rules": {"rules": [
            {"id": "located", "type": "not_null", "severity": "error", "table": "deployments",
             "column": "locationID"},
            {"id": "kinds", "type": "allowed_values", "severity": "error",
             "table": "observations", "column": "observationType",
             "values": ["animal", "human", "vehicle", "blank", "unknown", "unclassified"]},
        ]},
        "lineage_notes": "A Camtrap DP export; observations are per image (media level).",
    },
]

#: email -> (programme code, role)
ASSIGNMENTS = [
    ("owner@example.org", "WOODLAND-EVENTS", "owner"),
    ("owner@example.org", "CAMTRAP-DP", "owner"),
]


def demo_files(data_root: Path) -> list[tuple[Path, Callable[[Path], Any]]]:
    """The generated inputs of these programmes: (path, writer) pairs, each in the
    programme's own folder."""
    return [
        (data_root / "WOODLAND-EVENTS/events.zip", demo_packages.write_event_core_archive),
        (data_root / "CAMTRAP-DP/camtrap/datapackage.json",
         lambda path: demo_packages.write_camtrap_package(path.parent)),
    ]
