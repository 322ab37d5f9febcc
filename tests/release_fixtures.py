"""Release candidates and releases written directly (no worker), for page and API tests."""

from __future__ import annotations

import json
from pathlib import Path

from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeRun, ReleaseCandidate, User
from portal.services import candidates
from portal.services.release_diff import diff_releases
from portal.services.review import candidate_staged
from tests.factories import gen_run

RICHNESS = "site,year,richness\nA,2020,3\nB,2020,4\n"


def stage(app, programme: MonitoringProgramme, requested_by: User | None = None,
          csv: str = RICHNESS) -> tuple[MonitoringProgrammeRun, ReleaseCandidate]:
    """A run ended awaiting_review with a staged candidate holding ``richness.csv``."""
    run = gen_run(programme, status="awaiting_review",
                  requested_by_id=requested_by.id if requested_by else None)
    db.session.commit()
    base = Path(app.config["PUBLISH_ROOT"]) / programme.code
    data = {"richness.csv": csv.encode()}
    previous = candidates.previous_good(base)
    old = candidates.read_files(base / previous, ".csv") if previous else None
    package = {"name": "r", "title": f"{programme.code} release candidate",
               "version": "candidate",
               "resources": [{"name": "richness", "path": "richness.csv", "format": "csv",
                              "rows": csv.count("\n") - 1, "bytes": len(data["richness.csv"]),
                              "schema": {"fields": [{"name": "site", "type": "string"}]}}]}
    lineage = {"run_uuid": run.uuid, "programme_code": programme.code, "inputs": [],
               "release": {"version": "candidate"}}
    candidates.stage(base, run.uuid, {
        **data, "datapackage.json": candidates.json_bytes(package),
        "lineage.json": candidates.json_bytes(lineage),
        "diff.json": candidates.json_bytes(diff_releases(old, data, previous, None))})
    candidate = candidate_staged(run, {"release": {"staged": True, "candidate": run.uuid,
                                                   "files": [], "bump": "minor"}})
    db.session.commit()
    return run, candidate


def publish(app, programme: MonitoringProgramme, csv: str = RICHNESS) -> str:
    """A published release (through a candidate, approved by the system); its version."""
    _, candidate = stage(app, programme, csv=csv)
    base = Path(app.config["PUBLISH_ROOT"]) / programme.code
    version = candidates.publish(base, candidate.folder, {"approved_by": "test"})
    candidate.status, candidate.version = "approved", version
    db.session.commit()
    return version


def read_package(app, programme: MonitoringProgramme, version: str) -> dict:
    """The release's datapackage.json."""
    path = Path(app.config["PUBLISH_ROOT"]) / programme.code / version / "datapackage.json"
    return json.loads(path.read_text())
