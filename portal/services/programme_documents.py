"""Programmes as code: one JSON document per programme, exported and applied.

A document holds what the forms edit (title, description, cadence, time zone,
scheduler switch, pipeline, rules, lineage notes), the operating institutions (set
when created) and ``version``, a content hash of the editable fields
(``programme_edit.programme_version``). Applying a document goes through the very
services the forms use (``authoring.create_programme``, ``programme_edit.update_programme``):
the same validation, audit diff and access rules. An update names the version it was
based on; a programme changed since is refused (``VersionConflict``, HTTP 412).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal import access
from portal.extensions import db
from portal.models import MonitoringProgramme, User
from portal.services import Conflict, DomainError, NotFound
from portal.services.authoring import NewProgramme, create_programme
from portal.services.programme_edit import ProgrammeChanges, programme_version, update_programme

FORMAT = "programme-ops/programme/v1"
TEXT_FIELDS = ("title", "description", "timezone", "refresh_cadence", "lineage_notes",
               "licence")
OBJECT_FIELDS = {"pipeline": "steps", "rules": "rules"}
KNOWN_FIELDS = frozenset({"format", "code", "version", "scheduler_enabled", "institutions",
                          "max_attempts", *TEXT_FIELDS, *OBJECT_FIELDS})


class PreconditionRequired(DomainError):
    """An update did not say which version it was based on."""

    status = 428


@dataclass
class Applied:
    """The outcome of applying a document."""

    programme: MonitoringProgramme
    created: bool
    diff: dict[str, dict[str, Any]]


def export_document(programme: MonitoringProgramme) -> dict[str, Any]:
    """The programme's definition as a JSON document (what ``apply_document`` takes)."""
    return {
        "format": FORMAT, "code": programme.code, "version": programme_version(programme),
        "title": programme.title, "description": programme.description,
        "timezone": programme.timezone, "refresh_cadence": programme.refresh_cadence,
        "scheduler_enabled": programme.scheduler_enabled,
        "institutions": sorted(i.code for i in programme.operating_institutions),
        "pipeline": programme.pipeline_definition_json or {"steps": []},
        "rules": programme.data_quality_rules_json or {"rules": []},
        "lineage_notes": programme.lineage_notes,
        "licence": programme.licence or "",
        "max_attempts": programme.max_attempts,
    }


def check_document(document: Any) -> dict[str, Any]:
    """Check a document's shape and types; every refusal names its field.

    Raises:
        DomainError: not an object, an unknown field or a value of the wrong type.
    """
    if not isinstance(document, dict):
        raise DomainError("The document must be a JSON object.", field="body")
    unknown = sorted(set(document) - KNOWN_FIELDS)
    if unknown:
        raise DomainError(f"Unknown field {unknown[0]!r}; a programme document has "
                          f"{', '.join(sorted(KNOWN_FIELDS))}.", field=unknown[0])
    if "format" in document and document["format"] != FORMAT:
        raise DomainError(f"format must be {FORMAT!r}.", field="format")
    for name in ("code", "version", *TEXT_FIELDS):
        if name in document and not isinstance(document[name], str):
            raise DomainError(f"{name} must be a string.", field=name)
    if "scheduler_enabled" in document and not isinstance(document["scheduler_enabled"], bool):
        raise DomainError("scheduler_enabled must be true or false.", field="scheduler_enabled")
    attempts = document.get("max_attempts", 1)
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        raise DomainError("max_attempts must be a whole number.", field="max_attempts")
    institutions = document.get("institutions", [])
    if not isinstance(institutions, list) or not all(isinstance(i, str) for i in institutions):
        raise DomainError("institutions must be a list of institution codes.",
                          field="institutions")
    for name, root in OBJECT_FIELDS.items():
        if name in document and not isinstance(document[name], dict):
            raise DomainError(f"{name} must be an object with a list {root!r}.", field=name)
    return document


def create_from_document(document: Any, user: User, *,
                         request_id: str | None = None) -> MonitoringProgramme:
    """Create a programme from a document (the creator becomes its owner; audited).

    Raises:
        DomainError: a field at fault (named); Conflict: the code is taken.
        access.ActionForbidden: ``user`` may not create programmes.
    """
    document = check_document(document)
    if not access.can_create_programme(user):
        raise access.ActionForbidden("create")
    if not document.get("code"):
        raise DomainError("code is required.", field="code")
    if not document.get("title", "").strip():
        raise DomainError("title is required.", field="title")
    spec = NewProgramme(
        code=document["code"], title=document["title"],
        description=document.get("description", ""),
        timezone=document.get("timezone", "UTC"),
        refresh_cadence=document.get("refresh_cadence", "manual"),
        scheduler_enabled=document.get("scheduler_enabled", False),
        institution_ids=_institution_ids(document.get("institutions", [])),
        pipeline=document.get("pipeline"), rules=document.get("rules"),
        lineage_notes=document.get("lineage_notes", ""), licence=document.get("licence", ""),
        max_attempts=document.get("max_attempts"))
    return create_programme(spec, user, request_id=request_id)


def update_from_document(programme: MonitoringProgramme, document: Any, user: User, *,
                         expected_version: str | None,
                         request_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Change ``programme`` to what the document says (fields left out stay as they are).

    The caller has authorised ``access.EDIT``. ``expected_version`` is the version the
    change was based on (an ``If-Match`` header, else the document's ``version``).

    Returns:
        The audited before/after diff (empty when nothing changed).

    Raises:
        PreconditionRequired: no version given; VersionConflict: a stale version.
        programme_edit.ValidationFailed: every field at fault.
    """
    document = check_document(document)
    code = document.get("code")
    if code is not None and code.strip().upper() != programme.code.upper():
        raise DomainError(f"The document is for programme {code!r}, not {programme.code}.",
                          field="code")
    current = export_document(programme)
    if "institutions" in document and sorted(document["institutions"]) != \
            current["institutions"]:
        raise DomainError("Operating institutions are set when a programme is created; "
                          "they cannot be changed through a document.", field="institutions")
    expected = expected_version or document.get("version")
    if not expected:
        raise PreconditionRequired(
            "Say which version your change is based on: send If-Match with the ETag "
            "of the programme document (or \"version\" in the body), or If-Match: *.",
            field="version")
    merged = {**current, **document}
    changes = ProgrammeChanges(
        title=merged["title"], description=merged["description"],
        refresh_cadence=merged["refresh_cadence"], timezone=merged["timezone"],
        scheduler_enabled=merged["scheduler_enabled"],
        pipeline_definition=json.dumps(merged["pipeline"]),
        data_quality_rules=json.dumps(merged["rules"]),
        lineage_notes=merged["lineage_notes"], licence=merged["licence"],
        max_attempts=merged["max_attempts"])
    return update_programme(programme, user, changes, request_id=request_id,
                            expected_version=None if expected == "*" else expected)


def apply_document(document: Any, user: User, *, expected_version: str | None = None,
                   force: bool = False, request_id: str | None = None) -> Applied:
    """Create the programme a document names, or update it (``flask ops apply``).

    An update needs the document's ``version`` (or ``expected_version``) unless
    ``force``; the acting ``user`` needs the same rights as in the forms.

    Raises:
        DomainError and its subclasses, as ``create_from_document`` and
        ``update_from_document``; NotFound when the programme exists but ``user``
        cannot see it is reported as the code being taken (as the form does).
    """
    document = check_document(document)
    code = (document.get("code") or "").strip().upper()
    programme = db.session.scalar(select(MonitoringProgramme)
                                  .where(MonitoringProgramme.code == code)) if code else None
    if programme is None:
        if document.get("version"):
            raise NotFound(f"No programme {code}: a document with a version updates an "
                           "existing programme; remove \"version\" to create it.", field="code")
        return Applied(create_from_document(document, user, request_id=request_id), True, {})
    if not access.can(user, access.VIEW, programme):
        raise Conflict(f"A programme with code {code} already exists.", field="code")
    if not access.can(user, access.EDIT, programme):
        raise access.ActionForbidden(access.EDIT)
    diff = update_from_document(programme, document, user, request_id=request_id,
                                expected_version="*" if force else expected_version)
    return Applied(programme, False, diff)


def _institution_ids(codes: list[str]) -> list[int]:
    from portal.models import Institution

    wanted = {code.strip() for code in codes}
    found = dict(db.session.execute(select(Institution.code, Institution.id)
                                    .where(Institution.code.in_(wanted))).all())
    missing = sorted(wanted - set(found))
    if missing:
        raise DomainError(f"No institution with code {missing[0]!r}.", field="institutions")
    return sorted(found.values())
