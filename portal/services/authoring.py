"""Creating, cloning and archiving programmes.

Who may create: admins, and anyone who owns a programme (see
``access.can_create_programme``). The creator becomes the new programme's owner; a
non-admin may only name institutions from ``access.creatable_institution_ids``.
Archiving takes a programme out of the scheduler and the default lists; its runs,
alerts, releases and audit trail stay.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from portal import access
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import (
    STEWARD_ROLES,
    Institution,
    MonitoringProgramme,
    MonitoringProgrammeSteward,
    User,
)
from portal.services import Conflict, DomainError, FieldErrors, audit
from portal.services.cadence import cadence_error, timezone_error
from portal.services.credential_checks import credential_errors
from portal.services.licences import licence_error
from portal.services.pipeline_spec import validate_pipeline, validate_rules
from portal.services.programme_edit import MAX_ATTEMPTS_RANGE
from portal.services.scheduling import reschedule
from portal.services.shared_folders import code_clash, source_problems
from portal.services.source_paths import rewrite_first_component

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,39}$")


@dataclass
class NewProgramme:
    """What a steward fills in to create a programme."""

    code: str
    title: str
    description: str = ""
    timezone: str = "UTC"
    refresh_cadence: str = "manual"
    scheduler_enabled: bool = False
    institution_ids: list[int] = field(default_factory=list)
    stewards: list[tuple[str, str]] = field(default_factory=list)  # (email, role)
    pipeline: dict | None = None
    rules: dict | None = None
    lineage_notes: str = ""
    licence: str = ""  # the releases' licence (portal.services.licences)
    max_attempts: int | None = None  # None: the column's default (2)
    #: appended to a refused source's message (a clone explains that grants are not copied)
    source_hint: str = ""


def programme_problems(spec: NewProgramme, user: User) -> list[DomainError]:
    """Every problem with ``spec``, at most one per field, without writing anything."""
    problems: list[DomainError] = []
    _resolve(spec, user, problems)
    return problems


def _check(spec: NewProgramme, user: User) -> tuple[list[Institution], list[tuple[User, str]]]:
    problems: list[DomainError] = []
    resolved = _resolve(spec, user, problems)
    if problems:
        raise FieldErrors(problems)
    return resolved


def _resolve(spec: NewProgramme, user: User, problems: list[DomainError]
             ) -> tuple[list[Institution], list[tuple[User, str]]]:
    """Check every field of ``spec`` (appending to ``problems``); resolve the references."""
    def refuse(error: DomainError) -> None:
        if all(known.field != error.field for known in problems):
            problems.append(error)

    spec.code = spec.code.strip().upper()
    if not CODE_RE.match(spec.code):
        refuse(DomainError("The code must be 2–40 capital letters, digits, '-' or '_', "
                           "starting with a letter or digit.", field="code"))
    elif db.session.scalar(select(MonitoringProgramme.id)
                           .where(func.upper(MonitoringProgramme.code) == spec.code)):
        refuse(Conflict(f"A programme with code {spec.code} already exists.", field="code"))
    elif folder := code_clash(spec.code):
        refuse(Conflict(f"The code {spec.code} is the folder of the shared folder {folder!r}: "
                        "a programme's folder cannot be a shared one; choose another code.",
                        field="code"))
    if not spec.title.strip():
        refuse(DomainError("A title is required.", field="title"))
    if error := timezone_error(spec.timezone):
        refuse(DomainError(error, field="timezone"))
    if error := cadence_error(spec.refresh_cadence):
        refuse(DomainError(error, field="refresh_cadence"))
    if error := licence_error(spec.licence):
        refuse(DomainError(error, field="licence"))
    low, high = MAX_ATTEMPTS_RANGE
    if spec.max_attempts is not None and not low <= spec.max_attempts <= high:
        refuse(DomainError(f"Attempts must be a whole number from {low} to {high}.",
                           field="max_attempts"))
    if spec.pipeline is not None and (errors := validate_pipeline(spec.pipeline)
                                      or credential_errors(spec.pipeline)):
        refuse(DomainError("; ".join(map(str, errors[:5])), field="pipeline_definition_json"))
    if spec.rules is not None and (errors := validate_rules(spec.rules)):
        refuse(DomainError("; ".join(map(str, errors[:5])), field="data_quality_rules_json"))
    # A new programme has no grants yet: its sources must name its own folder.
    for problem in source_problems(None, spec.pipeline or {}, spec.rules or {}):
        field = ("pipeline_definition_json" if problem.path.startswith("$.steps")
                 else "data_quality_rules_json")
        refuse(DomainError(f"{problem}{spec.source_hint}", field=field))
    allowed = set(db.session.scalars(access.creatable_institution_ids(user)))
    if set(spec.institution_ids) - allowed:
        refuse(DomainError("You may only name institutions you belong to or whose programmes "
                           "you own.", field="institutions"))
    institutions = list(db.session.scalars(
        select(Institution).where(Institution.id.in_(spec.institution_ids))))
    stewards = []
    for email, role in spec.stewards:
        if role not in STEWARD_ROLES:
            refuse(DomainError(f"Unknown role {role!r}.", field="stewards"))
            continue
        person = db.session.scalar(select(User).where(func.lower(User.email) ==
                                                      email.strip().lower()))
        if person is None or not person.active:
            refuse(DomainError(f"No active user with e-mail {email.strip()}.", field="stewards"))
            continue
        stewards.append((person, role))
    return institutions, stewards


def create_programme(spec: NewProgramme, user: User, *,
                     request_id: str | None = None) -> MonitoringProgramme:
    """Create a programme; the creator becomes its owner (audited).

    Raises:
        DomainError: naming the field at fault; Conflict when the code is taken.
    """
    if not access.can_create_programme(user):
        raise DomainError("Only admins and programme owners can create programmes.")
    begin_write()
    institutions, stewards = _check(spec, user)
    programme = MonitoringProgramme(
        code=spec.code, title=spec.title.strip(), description=spec.description.strip(),
        timezone=spec.timezone, refresh_cadence=spec.refresh_cadence.strip(),
        scheduler_enabled=spec.scheduler_enabled,
        pipeline_definition_json=spec.pipeline or {"steps": []},
        data_quality_rules_json=spec.rules or {"rules": []},
        lineage_notes=spec.lineage_notes, operating_institutions=institutions, active=True,
        licence=spec.licence.strip(),
        **({} if spec.max_attempts is None else {"max_attempts": spec.max_attempts}),
    )
    reschedule(programme)
    db.session.add(programme)
    db.session.flush()
    assignments = {(user.id, "owner")} | {(person.id, role) for person, role in stewards}
    for user_id, role in sorted(assignments):
        db.session.add(MonitoringProgrammeSteward(
            programme_id=programme.id, user_id=user_id, role=role,
            is_primary=(user_id == user.id and role == "owner")))
    audit.record("programme_created", actor=user, object_type="programme",
                 object_id=programme.code, programme_id=programme.id,
                 metadata={"institutions": [i.code for i in institutions],
                           "stewards": [[p.email, r] for p, r in stewards],
                           "cadence": programme.refresh_cadence}, request_id=request_id)
    db.session.commit()
    return programme


def clone_programme(source: MonitoringProgramme, spec: NewProgramme, user: User, *,
                    request_id: str | None = None) -> MonitoringProgramme:
    """Create a programme from ``source``'s pipeline, rules and notes (not its runs or alerts).

    The caller has checked that ``user`` may see ``source``. Sources are relative to
    the programme's own folder, so they name the clone's folder; a legacy source that
    starts with ``source``'s code is rewritten. Shared-folder grants are not copied, so
    a source naming a shared folder refuses the clone (an admin grants explicitly).
    """
    spec.pipeline = _own_sources(copy.deepcopy(source.pipeline_definition_json), source.code)
    spec.rules = _own_sources(copy.deepcopy(source.data_quality_rules_json), source.code)
    spec.source_hint = ("; a clone does not copy shared-folder grants: remove the source, "
                        "clone, then ask an admin to grant the folder")
    spec.lineage_notes = spec.lineage_notes or source.lineage_notes
    spec.description = spec.description or source.description
    spec.licence = spec.licence or source.licence or ""
    programme = create_programme(spec, user, request_id=request_id)
    audit.record("programme_cloned", actor=user, object_type="programme",
                 object_id=programme.code, programme_id=programme.id,
                 metadata={"from": source.code}, request_id=request_id)
    db.session.commit()
    return programme


def _own_sources(document: dict | None, old_code: str) -> dict | None:
    """Drop a leading ``<old_code>/`` from every source (``OLD/inbox/x`` -> ``inbox/x``)."""
    if not isinstance(document, dict):
        return document
    for step in document.get("steps") or []:
        params = step.get("params") if isinstance(step, dict) else None
        if isinstance(params, dict) and isinstance(params.get("source"), str):
            params["source"] = rewrite_first_component(params["source"], old_code, None)
    for rule in document.get("rules") or []:
        vocabulary = rule.get("vocabulary") if isinstance(rule, dict) else None
        if isinstance(vocabulary, dict) and isinstance(vocabulary.get("source"), str):
            vocabulary["source"] = rewrite_first_component(vocabulary["source"], old_code, None)
    return document


def set_archived(programme: MonitoringProgramme, archived: bool, user: User, *,
                 request_id: str | None = None) -> MonitoringProgramme:
    """Archive (deactivate) or restore a programme. Archiving stops its schedule."""
    begin_write()  # SQLite: take the write lock before reading what is changed
    if programme.active == (not archived):
        raise Conflict(f"{programme.code} is already {'archived' if archived else 'active'}.")
    before = {"active": programme.active, "scheduler_enabled": programme.scheduler_enabled,
              "next_run_at": programme.next_run_at.isoformat() if programme.next_run_at
              else None}
    programme.active = not archived
    if archived:
        programme.scheduler_enabled = False
        reschedule(programme)
    after = {"active": programme.active, "scheduler_enabled": programme.scheduler_enabled,
             "next_run_at": None}
    audit.record("programme_archived" if archived else "programme_restored", actor=user,
                 object_type="programme", object_id=programme.code,
                 programme_id=programme.id, metadata={"diff": audit.diff(before, after)},
                 request_id=request_id)
    db.session.commit()
    return programme
