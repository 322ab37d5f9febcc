"""The sign-off gate: release candidates that a reviewer approves or rejects.

With ``publish_requires_review`` on, a passing run stages its release
(``jobs.candidate``) and ends ``awaiting_review``; the state machine then calls
:func:`candidate_staged` in the same transaction, which supersedes the programme's
pending candidate, records the new one and opens the ``release-review`` alert (the
inbox shows what waits). :func:`approve` publishes the candidate as the next version,
with the approver and time in ``datapackage.json`` and ``lineage.json``;
:func:`reject` discards it with a note and opens a ``release-rejected`` alert.
Versions are consumed only by an approval. Every decision is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from portal import access
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import (
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    ReleaseCandidate,
    User,
    utcnow,
)
from portal.services import Conflict, DomainError, NotFound, candidates, programme_summary
from portal.services import audit as audit_service
from portal.services.notifications import events as notification_events

REVIEW_ALERT = "release-review"
REJECTED_ALERT = "release-rejected"
NOTE_MAX = 2000


class SelfReview(DomainError):
    """The user triggered the run, and the programme wants a second pair of eyes."""

    status = 403


def _base(publish_root: str | Path, programme: MonitoringProgramme) -> Path:
    return Path(publish_root) / programme.code


def _resolve_review_alert(programme_id: int, note: str) -> None:
    alert = db.session.scalar(select(MonitoringProgrammeAlert).where(
        MonitoringProgrammeAlert.programme_id == programme_id,
        MonitoringProgrammeAlert.rule_id == REVIEW_ALERT,
        MonitoringProgrammeAlert.state.in_(("open", "acknowledged"))))
    if alert is None:
        return
    alert.state, alert.resolved_at, alert.resolved_note = "resolved", utcnow(), note
    programme_summary.alerts_changed(programme_id)
    audit_service.record("alert_auto_resolved", object_type="alert", object_id=alert.uuid,
                         programme_id=programme_id,
                         metadata={"rule_id": REVIEW_ALERT, "note": note})


def candidate_staged(run: MonitoringProgrammeRun, lineage: dict[str, Any]) -> ReleaseCandidate:
    """Record the candidate ``run`` staged (called by the state machine; caller commits).

    The programme's pending candidate, if any, is superseded and its files deleted.
    """
    from flask import current_app

    from portal.services.alerts import raise_alert

    release = lineage.get("release") or {}
    programme = db.session.get(MonitoringProgramme, run.programme_id)
    now = utcnow()
    older = list(db.session.scalars(select(ReleaseCandidate).where(
        ReleaseCandidate.programme_id == run.programme_id, ReleaseCandidate.status == "pending")))
    for candidate in older:
        candidate.status, candidate.decided_at = "superseded", now
        candidate.note = f"superseded by the candidate of run {run.uuid}"
        audit_service.record("release_candidate_superseded", object_type="release_candidate",
                             object_id=candidate.uuid, programme_id=run.programme_id,
                             metadata={"by_run": run.uuid})
    db.session.flush()
    candidate = ReleaseCandidate(
        programme_id=run.programme_id, run_id=run.id, status="pending",
        folder=str(release.get("candidate") or run.uuid), bump=str(release.get("bump") or "minor"),
        summary_json={"files": release.get("files") or [], "previous": release.get("previous"),
                      "headlines": release.get("diff_headlines") or []},
        created_at=now)
    db.session.add(candidate)
    db.session.flush()
    audit_service.record("release_candidate_staged", object_type="release_candidate",
                         object_id=candidate.uuid, programme_id=run.programme_id,
                         metadata={"run": run.uuid, "superseded": [c.uuid for c in older]})
    raise_alert(programme, run, rule_id=REVIEW_ALERT, severity="info",
                message=f"A release candidate from run {run.uuid[:8]} awaits review.",
                details={"system": True, "candidate": candidate.uuid})
    base = _base(current_app.config["PUBLISH_ROOT"], programme)
    for old in older:
        candidates.discard(candidates.candidate_dir(base, old.folder))
    return candidate


def list_candidates(programme: MonitoringProgramme, limit: int = 20) -> list[ReleaseCandidate]:
    """The programme's candidates, newest first."""
    return list(db.session.scalars(select(ReleaseCandidate)
                                   .where(ReleaseCandidate.programme_id == programme.id)
                                   .order_by(ReleaseCandidate.id.desc()).limit(limit)))


def get_candidate(programme: MonitoringProgramme, candidate_uuid: str) -> ReleaseCandidate:
    """The programme's candidate ``candidate_uuid``; NotFound for another programme's."""
    candidate = db.session.scalar(select(ReleaseCandidate).where(
        ReleaseCandidate.programme_id == programme.id, ReleaseCandidate.uuid == candidate_uuid))
    if candidate is None:
        raise NotFound("No such release candidate.")
    return candidate


def approved_candidate(programme: MonitoringProgramme, version: str) -> ReleaseCandidate | None:
    """The approved candidate that became ``version``, if it went through review."""
    return db.session.scalar(select(ReleaseCandidate).where(
        ReleaseCandidate.programme_id == programme.id, ReleaseCandidate.version == version,
        ReleaseCandidate.status == "approved"))


def _check_reviewer(candidate: ReleaseCandidate, user: User) -> None:
    run = candidate.run
    reason = access.self_review_refusal(user, candidate.programme,
                                        run.requested_by_id if run else None)
    if reason:
        raise SelfReview(reason, field="reviewer")


def _decide(candidate: ReleaseCandidate, to_status: str, user: User, note: str | None) -> None:
    """Compare-and-set pending → ``to_status``: a concurrent decision or a newer
    candidate makes this raise instead of deciding twice."""
    begin_write()
    changed = db.session.execute(
        update(ReleaseCandidate)
        .where(ReleaseCandidate.id == candidate.id, ReleaseCandidate.status == "pending")
        .values(status=to_status, decided_at=utcnow(), decided_by_id=user.id, note=note)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        current = db.session.get(ReleaseCandidate, candidate.id, populate_existing=True)
        raise Conflict(f"this candidate is already {current.status if current else 'gone'}",
                       field="status")


def approve(candidate: ReleaseCandidate, user: User, publish_root: str | Path,
            request_id: str | None = None) -> str:
    """Publish ``candidate`` as the programme's next version; return the version.

    Raises:
        SelfReview: the user triggered the run (and self-approval is off).
        Conflict: the candidate was already decided or superseded.
        DomainError: its files are gone.
    """
    _check_reviewer(candidate, user)
    programme, run = candidate.programme, candidate.run
    candidate_id, folder, bump = candidate.id, candidate.folder, candidate.bump
    _decide(candidate, "approved", user, None)
    now = utcnow()
    record = {"status": "approved", "approved_by": user.email, "approved_at": now.isoformat(),
              "candidate": candidate.uuid, "run": run.uuid if run else None}
    try:
        version = candidates.publish(_base(publish_root, programme), folder, record, bump)
    except (OSError, candidates.CandidateError) as error:
        db.session.rollback()
        raise DomainError(f"cannot publish the candidate: {error}", field="candidate") from error
    db.session.execute(update(ReleaseCandidate).where(ReleaseCandidate.id == candidate_id)
                       .values(version=version, decided_at=now)
                       .execution_options(synchronize_session=False))
    _resolve_review_alert(programme.id, f"Approved by {user.email}: published {version}.")
    audit_service.record("release_approved", actor=user, object_type="release_candidate",
                         object_id=candidate.uuid, programme_id=programme.id,
                         request_id=request_id,
                         metadata={"version": version, "run": record["run"]})
    notification_events.on_release_published(programme, run, version)
    db.session.commit()
    return version


def reject(candidate: ReleaseCandidate, user: User, note: str | None, publish_root: str | Path,
           request_id: str | None = None) -> None:
    """Discard ``candidate`` with ``note`` (required); no version is consumed.

    Raises:
        DomainError: no note (field ``note``).
        SelfReview / Conflict: as for :func:`approve`.
    """
    from portal.services.alerts import raise_alert

    note = (note or "").strip()
    if not note:
        raise DomainError("say why the candidate is rejected", field="note")
    if len(note) > NOTE_MAX:
        raise DomainError(f"the note is longer than {NOTE_MAX} characters", field="note")
    _check_reviewer(candidate, user)
    programme, run, folder = candidate.programme, candidate.run, candidate.folder
    _decide(candidate, "rejected", user, note)
    _resolve_review_alert(programme.id, f"Rejected by {user.email}.")
    raise_alert(programme, run, rule_id=REJECTED_ALERT, severity="warning",
                message=f"Release candidate of run {run.uuid[:8] if run else '?'} rejected by "
                        f"{user.email}: {note}",
                details={"system": True, "candidate": candidate.uuid, "note": note})
    audit_service.record("release_rejected", actor=user, object_type="release_candidate",
                         object_id=candidate.uuid, programme_id=programme.id,
                         request_id=request_id,
                         metadata={"note": note, "run": run.uuid if run else None})
    db.session.commit()
    candidates.discard(candidates.candidate_dir(_base(publish_root, programme), folder))


def candidate_diff(candidate: ReleaseCandidate, publish_root: str | Path) -> dict[str, Any] | None:
    """The ``diff.json`` stored with a pending candidate (None once its files are gone)."""
    import json

    try:
        folder = candidates.candidate_dir(_base(publish_root, candidate.programme),
                                          candidate.folder)
        return json.loads((folder / "diff.json").read_text())
    except (OSError, ValueError, candidates.CandidateError):
        return None


def set_review_settings(programme: MonitoringProgramme, user: User, *, requires_review: bool,
                        allow_self_approval: bool, request_id: str | None = None) -> None:
    """Turn the sign-off gate (and self-approval) on or off for ``programme`` (audited)."""
    before = {"publish_requires_review": programme.publish_requires_review,
              "review_allows_self_approval": programme.review_allows_self_approval}
    after = {"publish_requires_review": bool(requires_review),
             "review_allows_self_approval": bool(allow_self_approval)}
    if before == after:
        return
    begin_write()
    programme.publish_requires_review = after["publish_requires_review"]
    programme.review_allows_self_approval = after["review_allows_self_approval"]
    audit_service.record("programme_review_settings_changed", actor=user,
                         object_type="programme", object_id=programme.code,
                         programme_id=programme.id, request_id=request_id,
                         metadata={"before": before, "after": after})
    db.session.commit()


def candidate_document(candidate: ReleaseCandidate) -> dict[str, Any]:
    """A candidate as the API returns it."""
    run = candidate.run
    return {
        "uuid": candidate.uuid, "status": candidate.status, "version": candidate.version,
        "run": run.uuid if run else None,
        "triggered_by": run.requested_by.email if run and run.requested_by else None,
        "created_at": candidate.created_at.isoformat(),
        "decided_at": candidate.decided_at.isoformat() if candidate.decided_at else None,
        "decided_by": candidate.decided_by.email if candidate.decided_by else None,
        "note": candidate.note, "summary": candidate.summary_json or {},
    }
