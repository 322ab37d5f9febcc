"""What a release page and the releases API show: resources, preview, lineage, review,
diff against the previous good release, and withdrawal.

Everything is read from the release folder (``datapackage.json``, ``lineage.json``,
the CSV files) and the review and withdrawal records; a version that is not
``major.minor`` or not on disk is "not found", so a URL cannot reach outside the
programme's releases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeRun, ReleaseWithdrawal, User
from portal.services import Conflict, DomainError, NotFound, candidates, release_diff, review
from portal.services import audit as audit_service

REASON_MAX = 2000
WITHDRAWN_ALERT = "release-withdrawn"


def _base(publish_root: str | Path, programme: MonitoringProgramme) -> Path:
    return Path(publish_root).resolve() / programme.code


def release_folder(publish_root: str | Path, programme: MonitoringProgramme, version: str) -> Path:
    """The folder of ``version``; NotFound when malformed or absent (no traversal)."""
    if not candidates.VERSION_PATTERN.match(version or ""):
        raise NotFound("No such release.")
    folder = _base(publish_root, programme) / version
    if not folder.is_dir():
        raise NotFound("No such release.")
    return folder


def withdrawals(programme: MonitoringProgramme) -> dict[str, ReleaseWithdrawal]:
    """The programme's withdrawn versions, version -> record."""
    rows = db.session.scalars(select(ReleaseWithdrawal)
                              .where(ReleaseWithdrawal.programme_id == programme.id))
    return {row.version: row for row in rows}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _withdrawal_document(row: ReleaseWithdrawal | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"reason": row.reason, "withdrawn_at": row.withdrawn_at.isoformat(),
            "withdrawn_by": row.withdrawn_by.email if row.withdrawn_by else None}


def list_releases(programme: MonitoringProgramme, publish_root: str | Path) -> dict[str, Any]:
    """Every release, newest first, each marked withdrawn or not; ``latest`` is the newest
    release that is not withdrawn."""
    base = _base(publish_root, programme)
    gone = withdrawals(programme)
    items = []
    for version in reversed(candidates.versions(base)):
        folder = base / version
        package = _read_json(folder / "datapackage.json")
        items.append({
            "version": version,
            "published_at": datetime.fromtimestamp(folder.stat().st_mtime, UTC).isoformat(),
            "withdrawn": _withdrawal_document(gone.get(version)),
            "review": package.get("review"),
            "files": sorted(p.name for p in folder.iterdir() if p.is_file()),
        })
    latest = next((item["version"] for item in items if not item["withdrawn"]), None)
    return {"latest": latest, "releases": items}


def previous_version(programme: MonitoringProgramme, publish_root: str | Path,
                     version: str) -> str | None:
    """The newest release older than ``version`` that is not withdrawn."""
    gone = withdrawals(programme)
    older = [v for v in candidates.versions(_base(publish_root, programme))
             if candidates.version_key(v) < candidates.version_key(version) and v not in gone]
    return older[-1] if older else None


def diff(programme: MonitoringProgramme, publish_root: str | Path, version: str,
         against: str | None = None) -> dict[str, Any]:
    """The diff of ``version`` against ``against`` (any release, withdrawn ones included,
    when asked) or else the previous good release."""
    folder = release_folder(publish_root, programme, version)
    if against is not None:
        old_folder = release_folder(publish_root, programme, against)
    else:
        against = previous_version(programme, publish_root, version)
        old_folder = folder.parent / against if against else None
    old = candidates.read_files(old_folder, ".csv") if old_folder else None
    return release_diff.diff_releases(old, candidates.read_files(folder, ".csv"), against,
                                      version)


@dataclass
class Preview:
    """One page of a published table."""

    resource: str
    columns: list[str]
    rows: list[tuple]
    page: int
    pages: int
    total: int


def preview(programme: MonitoringProgramme, publish_root: str | Path, version: str,
            resource: str, page: int = 1, per_page: int = 25) -> Preview:
    """Page ``page`` of the release's table ``resource`` (a CSV named in its datapackage)."""
    folder = release_folder(publish_root, programme, version)
    package = _read_json(folder / "datapackage.json")
    paths = {r.get("name"): r.get("path") for r in package.get("resources", [])
             if r.get("format") == "csv"}
    if resource not in paths or not (folder / str(paths[resource])).is_file():
        raise NotFound("No such table in this release.")
    frame = release_diff.read_csv((folder / str(paths[resource])).read_bytes())
    pages = max(1, -(-frame.height // per_page))
    page = min(max(1, page), pages)
    rows = frame.slice((page - 1) * per_page, per_page).rows()
    return Preview(resource, frame.columns, rows, page, pages, frame.height)


def release_detail(programme: MonitoringProgramme, publish_root: str | Path,
                   version: str) -> dict[str, Any]:
    """A release's resources, lineage summary, review record and withdrawal."""
    folder = release_folder(publish_root, programme, version)
    package = _read_json(folder / "datapackage.json")
    lineage = _read_json(folder / "lineage.json")
    resources = []
    for entry in package.get("resources", []):
        resources.append({
            "name": entry.get("name"), "path": entry.get("path"),
            "format": entry.get("format"), "rows": entry.get("rows"),
            "bytes": entry.get("bytes"),
            "sha256": str(entry.get("hash") or "").removeprefix("sha256:") or None,
            "fields": (entry.get("schema") or {}).get("fields", []),
        })
    run_uuid = lineage.get("run_uuid")
    run = db.session.scalar(select(MonitoringProgrammeRun).where(
        MonitoringProgrammeRun.uuid == run_uuid,
        MonitoringProgrammeRun.programme_id == programme.id)) if run_uuid else None
    candidate = review.approved_candidate(programme, version)
    # The run's lineage record holds the hashes of the definition and rules it executed.
    recorded = (run.lineage_json or {}) if run is not None else {}
    return {
        "version": version, "title": package.get("title"), "created": package.get("created"),
        "licenses": package.get("licenses", []), "resources": resources,
        "files": sorted(p.name for p in folder.iterdir() if p.is_file()),
        "lineage": {
            "run": run_uuid,
            **{name: lineage.get(name) or recorded.get(name)
               for name in ("code_version", "definition_sha256", "rules_sha256")},
            "inputs": [{"uri": i.get("uri"), "sha256": i.get("sha256"), "rows": i.get("rows")}
                       for i in lineage.get("inputs", []) if isinstance(i, dict)],
        },
        "run": run,
        "review": package.get("review") or (
            review.candidate_document(candidate) if candidate else None),
        "withdrawn": _withdrawal_document(withdrawals(programme).get(version)),
    }


def withdraw(programme: MonitoringProgramme, version: str, user: User, reason: str | None,
             publish_root: str | Path, request_id: str | None = None) -> ReleaseWithdrawal:
    """Withdraw a published release: its files stay, every listing marks it, "latest"
    falls back to the previous good release; audited, and an alert notifies.

    Raises:
        NotFound: no such release. Conflict: already withdrawn. DomainError: no reason.
    """
    from portal.services.alerts import raise_alert

    release_folder(publish_root, programme, version)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("say why the release is withdrawn", field="reason")
    if len(reason) > REASON_MAX:
        raise DomainError(f"the reason is longer than {REASON_MAX} characters", field="reason")
    if version in withdrawals(programme):
        raise Conflict(f"release {version} is already withdrawn", field="version")
    begin_write()
    row = ReleaseWithdrawal(programme_id=programme.id, version=version, reason=reason,
                            withdrawn_by_id=user.id)
    db.session.add(row)
    db.session.flush()
    audit_service.record("release_withdrawn", actor=user, object_type="release",
                         object_id=f"{programme.code}/{version}", programme_id=programme.id,
                         request_id=request_id, metadata={"version": version, "reason": reason})
    raise_alert(programme, None, rule_id=WITHDRAWN_ALERT, severity="warning",
                message=f"Release {version} withdrawn by {user.email}: {reason}",
                details={"system": True, "version": version})
    db.session.commit()
    try:  # the on-disk index, for consumers that read the folder (and the worker's diff)
        candidates.write_withdrawn_index(_base(publish_root, programme), {
            v: _withdrawal_document(r) for v, r in withdrawals(programme).items()})
    except OSError:
        pass  # the database record stands; the next withdrawal rewrites the whole index
    return row
