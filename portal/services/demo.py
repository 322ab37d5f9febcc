"""The demo seed: institutions, a user per role, programmes with real pipelines and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Institution, MonitoringProgramme, MonitoringProgrammeSteward, User
from portal.services import demo_counts, demo_data, demo_recipes

DEMO_PASSWORD = "demo-password"

INSTITUTIONS = [("Iberian Bird Atlas Trust", "IBAT"), ("Desert Ecology Lab", "DEL")]

#: email, name, admin, institution codes
USERS = [
    ("admin@example.org", "Ada Admin", True, []),
    ("owner@example.org", "Olu Owner", False, []),
    ("steward@example.org", "Sam Steward", False, []),
    ("operator@example.org", "Oren Operator", False, []),
    ("reviewer@example.org", "Rita Reviewer", False, []),
    ("member@example.org", "Mia Member", False, ["IBAT"]),
    ("outsider@example.org", "Otto Outsider", False, []),
]

BIRD_RULES = {"rules": [
    {"id": "columns", "type": "required_columns", "severity": "critical",
     "columns": ["occurrenceID", "scientificName", "eventDate", "decimalLatitude",
                 "decimalLongitude", "individualCount"]},
    {"id": "name-present", "type": "not_null", "severity": "error", "column": "scientificName",
     "tolerance": 0.99},
    {"id": "occurrence-id-unique", "type": "unique", "severity": "warning",
     "columns": ["occurrenceID"]},
    {"id": "count-range", "type": "range", "severity": "warning", "column": "individualCount",
     "min": 1, "max": 10000},
    {"id": "date-valid", "type": "date", "severity": "warning", "column": "eventDate"},
    {"id": "coordinates", "type": "coordinates", "severity": "warning",
     "latitude": "decimalLatitude", "longitude": "decimalLongitude",
     "bbox": [-10.0, 35.0, 5.0, 44.0]},
]}

PROGRAMMES: list[dict[str, Any]] = [
    {
        "code": "BIRD-ATLAS",
        "title": "Iberian breeding bird atlas",
        "description": "Point counts at 36 atlas squares, 2010–2025; richness, abundance "
                       "and trends per species; TRIM indices at 40 count sites and the "
                       "farmland-bird indicator.",
        "refresh_cadence": "monthly",
        "timezone": "Europe/Madrid",
        "scheduler_enabled": True,
        "institutions": ["IBAT"],
        "pipeline": {"steps": [
            {"key": "ingest", "type": "ingest.darwin_core",
             "params": {"source": "occurrence.csv"}},
            {"key": "validate", "type": "validate.rules"},
            {"key": "richness", "type": "compute.species_richness",
             "params": {"site": "locationID", "period": "year"}},
            {"key": "trend", "type": "compute.trend", "params": {"min_years": 5}},
            # Site x year point counts (visits not made are missing): TRIM indices per
            # species and the farmland-bird multi-species indicator.
            {"key": "counts", "type": "ingest.csv",
             "params": {"source": "point_counts.csv", "as": "point_counts"}},
            {"key": "trim", "type": "compute.trim",
             "params": {"table": "point_counts", "taxon": "scientificName",
                        "site": "locationID", "time": "year", "count": "count", "model": 3,
                        "overdispersion": True, "serial_correlation": True}},
            {"key": "msi", "type": "compute.msi",
             "params": {"group": "farmland birds", "taxa": demo_counts.FARMLAND,
                        "indices": "trim_indices"}},
            {"key": "publish", "type": "publish.release", "params": {"name": "bird-atlas"}},
        ]},
        "rules": BIRD_RULES,
        "licence": "CC-BY-4.0",
        "lineage_notes": "Point counts by volunteer observers, entered in the field app "
                         "and exported nightly as Darwin Core.",
    },
    {
        "code": "DESERT-PLOTS",
        "title": "Desert rodent-plot ant census",
        "description": "Annual summer census of ant colonies on 24 fenced plots.",
        "refresh_cadence": "annual",
        "timezone": "America/Phoenix",
        "scheduler_enabled": True,
        "institutions": ["DEL"],
        "pipeline": {"steps": [
            {"key": "ingest", "type": "ingest.csv",
             "params": {"source": "census.csv",
                        "mapping": {"date_from": {"day": "day", "month": "month",
                                                  "year": "year", "target": "eventDate"}}}},
            {"key": "validate", "type": "validate.rules"},
            {"key": "richness", "type": "compute.species_richness",
             "params": {"taxon": "species", "site": "plot", "period": "year"}},
            {"key": "occupancy", "type": "compute.occupancy",
             "params": {"taxon": "species", "site": "plot", "period": "year"}},
            {"key": "publish", "type": "publish.release", "params": {"name": "desert-plots"}},
        ]},
        "licence": "CC0-1.0",
        "rules": {"rules": [
            {"id": "columns", "type": "required_columns", "severity": "critical",
             "columns": ["year", "plot", "species", "count"]},
            {"id": "species-known", "type": "allowed_values", "severity": "error",
             "column": "species",
             "vocabulary": {"source": "species.csv", "column": "species"}},
            {"id": "plot-range", "type": "range", "severity": "error", "column": "plot",
             "min": 1, "max": 24},
            {"id": "day-known", "type": "null_fraction", "severity": "info", "column": "day",
             "max_fraction": 0.05},
            {"id": "no-redone-duplicates", "type": "unique", "severity": "warning",
             "columns": ["year", "plot", "species"],
             "description": "A plot redone (flag 10) repeats its census rows."},
        ]},
        "lineage_notes": "Census sheets digitised by the lab; flag 10 marks redone plots.",
    },
    {
        "code": "CAMTRAP-SIERRA",
        "title": "Sierra camera-trap survey",
        "description": "Camera traps at 12 stations, checked weekly.",
        "refresh_cadence": "0 6 * * 1",
        "timezone": "Europe/Madrid",
        "scheduler_enabled": False,
        "institutions": ["IBAT", "DEL"],
        "pipeline": {"steps": [
            {"key": "ingest", "type": "ingest.darwin_core",
             "params": {"source": "occurrence.csv"}},
            {"key": "validate", "type": "validate.rules"},
            {"key": "abundance", "type": "compute.abundance", "params": {"period": "year"}},
            {"key": "publish", "type": "publish.release", "params": {"name": "camtrap"}},
        ]},
        "licence": "CC-BY-NC-4.0",
        "rules": {"rules": [
            {"id": "name-present", "type": "not_null", "severity": "error",
             "column": "scientificName"},
            {"id": "not-future", "type": "date", "severity": "error", "column": "eventDate"},
        ]},
        "lineage_notes": "Images classified by two reviewers; disagreements resolved by a third.",
    },
    {
        "code": "BIOBLITZ-2026",
        "title": "City park bioblitz 2026",
        "description": "A one-off citizen-science bioblitz.",
        "refresh_cadence": "ad_hoc",
        "timezone": "Europe/London",
        "scheduler_enabled": False,
        "institutions": [],
        "pipeline": {"steps": [
            {"key": "ingest", "type": "ingest.darwin_core",
             "params": {"source": "occurrence.csv"}},
            {"key": "richness", "type": "compute.species_richness",
             "params": {"site": "locality", "period": "year"}},
        ]},
        "rules": {"rules": []},
        "lineage_notes": "",
    },
    *demo_recipes.PROGRAMMES,  # the recipes of docs/recipes.md: event core, Camtrap DP
]

#: email -> (programme code, role)
ASSIGNMENTS = [
    ("owner@example.org", "BIRD-ATLAS", "owner"),
    ("owner@example.org", "DESERT-PLOTS", "owner"),
    ("owner@example.org", "CAMTRAP-SIERRA", "owner"),
    ("steward@example.org", "BIRD-ATLAS", "steward"),
    ("steward@example.org", "CAMTRAP-SIERRA", "steward"),
    ("operator@example.org", "BIRD-ATLAS", "operator"),
    ("operator@example.org", "DESERT-PLOTS", "operator"),
    ("reviewer@example.org", "BIRD-ATLAS", "reviewer"),
    ("reviewer@example.org", "DESERT-PLOTS", "reviewer"),
    *demo_recipes.ASSIGNMENTS,
]


def write_demo_files(data_root: Path) -> list[Path]:
    """Generate the demo programmes' input files (idempotent).

    Each programme's files go into its own folder ``DATA_ROOT/<CODE>/``, which its
    sources are relative to.
    """
    files = [
        (data_root / "BIRD-ATLAS/occurrence.csv",
         lambda p: demo_data.write_occurrences(p, 20000, seed=11)),
        (data_root / "BIRD-ATLAS/point_counts.csv", demo_counts.write_point_counts),
        (data_root / "CAMTRAP-SIERRA/occurrence.csv",
         # With defects: a few future dates trip the blocking "not-future" rule.
         lambda p: demo_data.write_occurrences(p, 3000, seed=12, sites=12)),
        (data_root / "BIOBLITZ-2026/occurrence.csv",
         lambda p: demo_data.write_occurrences(p, 800, seed=13, sites=5, first_year=2026,
                                               last_year=2026, defects=False)),
        (data_root / "DESERT-PLOTS/census.csv", demo_data.write_plot_census),
        (data_root / "DESERT-PLOTS/species.csv", demo_data.write_species_vocabulary),
        *demo_recipes.demo_files(data_root),
    ]
    written = []
    for path, make in files:
        if not path.exists():
            make(path)
            written.append(path)
    return written


def seed(data_root: Path) -> dict[str, Any]:
    """Create the demo institutions, users and programmes if absent; return a summary."""
    from portal.services.scheduling import reschedule

    created: dict[str, int] = {"institutions": 0, "users": 0, "programmes": 0}
    institutions = {}
    for name, code in INSTITUTIONS:
        inst = db.session.scalar(select(Institution).where(Institution.code == code))
        if inst is None:
            inst = Institution(name=name, code=code)
            db.session.add(inst)
            created["institutions"] += 1
        institutions[code] = inst
    users = {}
    for email, name, is_admin, codes in USERS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name=name, is_admin=is_admin, active=True)
            user.set_password(DEMO_PASSWORD)
            user.institutions = [institutions[c] for c in codes]
            db.session.add(user)
            created["users"] += 1
        users[email] = user
    programmes = {}
    for spec in PROGRAMMES:
        programme = db.session.scalar(
            select(MonitoringProgramme).where(MonitoringProgramme.code == spec["code"])
        )
        if programme is None:
            programme = MonitoringProgramme(
                code=spec["code"], title=spec["title"], description=spec["description"],
                refresh_cadence=spec["refresh_cadence"], timezone=spec["timezone"],
                scheduler_enabled=spec["scheduler_enabled"],
                pipeline_definition_json=spec["pipeline"],
                data_quality_rules_json=spec["rules"], lineage_notes=spec["lineage_notes"],
                licence=spec.get("licence", ""),
                operating_institutions=[institutions[c] for c in spec["institutions"]],
            )
            reschedule(programme)
            db.session.add(programme)
            created["programmes"] += 1
        programmes[spec["code"]] = programme
    db.session.flush()
    for email, code, role in ASSIGNMENTS:
        exists = db.session.scalar(
            select(MonitoringProgrammeSteward.id).where(
                MonitoringProgrammeSteward.programme_id == programmes[code].id,
                MonitoringProgrammeSteward.user_id == users[email].id,
                MonitoringProgrammeSteward.role == role,
            )
        )
        if not exists:
            db.session.add(MonitoringProgrammeSteward(
                programme_id=programmes[code].id, user_id=users[email].id, role=role,
                is_primary=role == "owner"))
    db.session.commit()
    files = write_demo_files(data_root)
    return {**created, "files": len(files)}
