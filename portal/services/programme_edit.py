"""Editing a programme and managing its steward assignments (audited, validated).

Every change is written with an audit event carrying a before/after diff
(``audit.diff``). The pipeline and the rule set are validated against their JSON
Schemas (``pipeline_spec``) before anything is saved; each problem names its JSON path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import STEWARD_ROLES, MonitoringProgramme, MonitoringProgrammeSteward, User
from portal.services import Conflict, DomainError, NotFound, audit
from portal.services.cadence import cadence_error, timezone_error
from portal.services.pipeline_spec import validate_pipeline, validate_rules
from portal.services.scheduling import reschedule

EDITABLE = ("title", "description", "refresh_cadence", "timezone", "scheduler_enabled",
            "pipeline_definition_json", "data_quality_rules_json", "lineage_notes")


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


def snapshot(programme: MonitoringProgramme) -> dict[str, Any]:
    """The editable fields of ``programme`` as a JSON-serialisable dict."""
    return {name: getattr(programme, name) for name in EDITABLE}


def _parse_json(text: str, field: str, errors: dict[str, list[str]]) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        errors.setdefault(field, []).append(
            f"$: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})")
        return None


def _validated(changes: ProgrammeChanges) -> dict[str, Any]:
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
    pipeline = _parse_json(changes.pipeline_definition, "pipeline_definition", errors)
    if pipeline is not None:
        found = [str(e) for e in validate_pipeline(pipeline)]
        if found:
            errors["pipeline_definition"] = found
    rules = _parse_json(changes.data_quality_rules, "data_quality_rules", errors)
    if rules is not None:
        found = [str(e) for e in validate_rules(rules)]
        if found:
            errors["data_quality_rules"] = found
    if errors:
        raise ValidationFailed(errors)
    return {"title": title, "description": changes.description.strip(),
            "refresh_cadence": cadence, "timezone": zone,
            "scheduler_enabled": bool(changes.scheduler_enabled),
            "pipeline_definition_json": pipeline, "data_quality_rules_json": rules,
            "lineage_notes": changes.lineage_notes.strip()}


def update_programme(programme: MonitoringProgramme, user: User, changes: ProgrammeChanges,
                     request_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Validate and save ``changes``; audit the before/after diff (access checked by caller).

    A changed cadence, time zone or scheduler switch recomputes ``next_run_at``.

    Returns:
        The diff that was saved (empty when nothing changed).

    Raises:
        ValidationFailed: with every problem, each naming its field (and JSON path).
    """
    values = _validated(changes)
    before = snapshot(programme)
    change = audit.diff(before, values)
    if not change:
        return {}
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
