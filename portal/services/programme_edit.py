"""Editing a programme and managing its steward assignments (audited, validated).

Every change is written with an audit event carrying a before/after diff
(``audit.diff``). The pipeline and the rule set are validated against their JSON
Schemas (``pipeline_spec``) before anything is saved; each problem names its JSON path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import STEWARD_ROLES, MonitoringProgramme, MonitoringProgrammeSteward, User
from portal.services import Conflict, DomainError, NotFound, audit, json_text
from portal.services.cadence import cadence_error, timezone_error
from portal.services.credential_checks import credential_errors
from portal.services.licences import licence_error
from portal.services.pipeline_spec import validate_pipeline, validate_rules
from portal.services.scheduling import reschedule
from portal.services.shared_folders import source_problems, split_problems

EDITABLE = ("title", "description", "refresh_cadence", "timezone", "scheduler_enabled",
            "pipeline_definition_json", "data_quality_rules_json", "lineage_notes", "licence",
            "max_attempts")
#: How many attempts a run may take when its worker is lost (1 = never retried).
MAX_ATTEMPTS_RANGE = (1, 10)


class ValidationFailed(DomainError):
    """Several fields are wrong; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=field)
        self.errors = errors


@dataclass
class ProgrammeChanges:
    """The edit form's values, as text (the JSON fields unparsed)."""

    title: str
    description: str
    refresh_cadence: str
    timezone: str
    scheduler_enabled: bool
    pipeline_definition: str
    data_quality_rules: str
    lineage_notes: str
    licence: str | None = None  # None: leave the programme's licence as it is
    max_attempts: str | int | None = None  # None: leave the programme's attempts as they are


def snapshot(programme: MonitoringProgramme) -> dict[str, Any]:
    """The editable fields of ``programme`` as a JSON-serialisable dict."""
    return {name: getattr(programme, name) for name in EDITABLE}


class VersionConflict(DomainError):
    """The programme changed since the version the caller based its change on."""

    status = 412


def programme_version(programme: MonitoringProgramme) -> str:
    """A content hash of the editable fields: the ETag for lost-update checks."""
    canonical = json.dumps(snapshot(programme), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _parse_json(text: str, field: str, errors: dict[str, list[str]]) -> Any:
    try:
        return json_text.loads(text)
    except json.JSONDecodeError as error:
        errors.setdefault(field, []).append(
            f"$: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})")
        return None


def _validated(changes: ProgrammeChanges, programme_id: int | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    title = changes.title.strip()
    if not title:
        errors["title"] = ["A title is required."]
    elif len(title) > 200:
        errors["title"] = ["The title is too long (200 characters at most)."]
    cadence = changes.refresh_cadence.strip()
    if problem := cadence_error(cadence):
        errors["refresh_cadence"] = [problem]
    zone = changes.timezone.strip()
    if problem := timezone_error(zone):
        errors["timezone"] = [problem]
    licence = (changes.licence or "").strip()
    if problem := licence_error(licence):
        errors["licence"] = [problem]
    attempts = _attempts(changes.max_attempts, errors)
    pipeline = _parse_json(changes.pipeline_definition, "pipeline_definition", errors)
    if pipeline is not None:
        found = [str(e) for e in validate_pipeline(pipeline) or credential_errors(pipeline)]
        if found:
            errors["pipeline_definition"] = found
    rules = _parse_json(changes.data_quality_rules, "data_quality_rules", errors)
    if rules is not None:
        found = [str(e) for e in validate_rules(rules)]
        if found:
            errors["data_quality_rules"] = found
    if "pipeline_definition" not in errors and "data_quality_rules" not in errors:
        # What the sources name: the programme's own folder or a shared folder granted to it.
        in_pipeline, in_rules = split_problems(source_problems(programme_id, pipeline, rules))
        for field, found in (("pipeline_definition", in_pipeline),
                             ("data_quality_rules", in_rules)):
            if found:
                errors[field] = found
    if errors:
        raise ValidationFailed(errors)
    return {"title": title, "description": changes.description.strip(),
            "refresh_cadence": cadence, "timezone": zone,
            "scheduler_enabled": bool(changes.scheduler_enabled),
            "pipeline_definition_json": pipeline, "data_quality_rules_json": rules,
            "lineage_notes": changes.lineage_notes.strip(),
            **({} if changes.licence is None else {"licence": licence}),
            **({} if attempts is None else {"max_attempts": attempts})}


def _attempts(value: str | int | None, errors: dict[str, list[str]]) -> int | None:
    """The attempts a lost run may take, checked (None: not given)."""
    if value is None:
        return None
    low, high = MAX_ATTEMPTS_RANGE
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not low <= int(text) <= high:
        errors["max_attempts"] = [f"Attempts must be a whole number from {low} to {high}."]
        return None
    return int(text)


def update_programme(programme: MonitoringProgramme, user: User, changes: ProgrammeChanges,
                     request_id: str | None = None, *, expected_version: str | None = None
                     ) -> dict[str, dict[str, Any]]:
    """Validate and save ``changes``; audit the before/after diff (access checked by caller).

    A changed cadence, time zone or scheduler switch recomputes ``next_run_at``.

    Returns:
        The diff that was saved (empty when nothing changed).

    Args:
        expected_version: when given (``programme_version`` as the caller last read it),
            refuse with ``VersionConflict`` if the programme changed since: no lost update.

    Raises:
        ValidationFailed: with every problem, each naming its field (and JSON path).
        VersionConflict: ``expected_version`` is not the current version.
    """
    values = _validated(changes, programme.id)
    if expected_version is not None:  # the check and the write under one write lock
        begin_write()
        db.session.refresh(programme, with_for_update=True)  # PostgreSQL: lock the row
        if (current := programme_version(programme)) != expected_version.strip('"'):
            db.session.rollback()
            raise VersionConflict(f"{programme.code} changed since version "
                                  f"{expected_version.strip(chr(34))}; it is now at version "
                                  f"{current}. Fetch it again and re-apply your change.")
    values.setdefault("licence", programme.licence)
    values.setdefault("max_attempts", programme.max_attempts)
    before = snapshot(programme)
    change = audit.diff(before, values)
    if not change:
        if expected_version is not None:
            db.session.rollback()
        return {}
    if expected_version is None:
        begin_write()  # SQLite: take the write lock now, not on a read-to-write upgrade
    for name, value in values.items():
        setattr(programme, name, value)
    if {"refresh_cadence", "timezone", "scheduler_enabled"} & set(change):
        reschedule(programme)
    audit.record("programme_updated", actor=user, object_type="programme",
                 object_id=programme.code, programme_id=programme.id,
                 metadata={"diff": change}, request_id=request_id)
    db.session.commit()
    return change


def add_steward(programme: MonitoringProgramme, actor: User, email: str, role: str,
                request_id: str | None = None) -> MonitoringProgrammeSteward:
    """Give the user with ``email`` a ``role`` on ``programme`` (re-activating an old one).

    Raises:
        DomainError: unknown role or e-mail (field ``role`` / ``email``).
        Conflict: the user already holds that role.
    """
    if role not in STEWARD_ROLES:
        raise DomainError(f"The role must be one of {', '.join(STEWARD_ROLES)}.", field="role")
    email = (email or "").strip().lower()
    user = db.session.scalar(select(User).where(func.lower(User.email) == email)) if email else None
    if user is None:
        raise DomainError(f"No user with e-mail {email or '(empty)'}; an admin can create one.",
                          field="email")
    if not user.active:
        raise DomainError(f"{user.email}'s account is deactivated.", field="email")
    begin_write()  # the duplicate check and the insert under one write lock
    assignment = db.session.scalar(select(MonitoringProgrammeSteward).where(
        MonitoringProgrammeSteward.programme_id == programme.id,
        MonitoringProgrammeSteward.user_id == user.id,
        MonitoringProgrammeSteward.role == role))
    if assignment is not None and assignment.is_active:
        raise Conflict(f"{user.email} is already {role} of {programme.code}.", field="email")
    before = {"active": False} if assignment is None else {"active": assignment.is_active}
    if assignment is None:
        assignment = MonitoringProgrammeSteward(programme_id=programme.id, user_id=user.id,
                                                role=role, is_active=True)
        db.session.add(assignment)
    else:
        assignment.is_active = True
    db.session.flush()
    audit.record("steward_assigned", actor=actor, object_type="steward",
                 object_id=assignment.id, programme_id=programme.id, request_id=request_id,
                 metadata={"user": user.email, "role": role,
                           "diff": audit.diff(before, {"active": True})})
    db.session.commit()
    return assignment


def deactivate_steward(programme: MonitoringProgramme, actor: User, steward_id: int,
                       request_id: str | None = None) -> MonitoringProgrammeSteward:
    """Deactivate one assignment; refuse to remove the programme's last active owner.

    Raises:
        NotFound: no such active assignment on this programme.
        Conflict: it is the last active owner.
    """
    begin_write()  # the last-owner check and the change under one write lock
    assignment = db.session.get(MonitoringProgrammeSteward, steward_id)
    if assignment is None or assignment.programme_id != programme.id or not assignment.is_active:
        raise NotFound("No such active steward assignment.", field="steward_id")
    if assignment.role == "owner":
        owners = db.session.scalar(select(func.count()).where(
            MonitoringProgrammeSteward.programme_id == programme.id,
            MonitoringProgrammeSteward.role == "owner",
            MonitoringProgrammeSteward.is_active.is_(True))) or 0
        if owners <= 1:
            raise Conflict("This is the programme's last owner; add another owner first.",
                           field="steward_id")
    assignment.is_active = False
    audit.record("steward_deactivated", actor=actor, object_type="steward",
                 object_id=assignment.id, programme_id=programme.id, request_id=request_id,
                 metadata={"user": assignment.user.email, "role": assignment.role,
                           "diff": audit.diff({"active": True}, {"active": False})})
    db.session.commit()
    return assignment
