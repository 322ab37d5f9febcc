"""Shared folders: data meant for several programmes, granted by an admin (audited).

A programme's pipeline reads its own namespace ``DATA_ROOT/<CODE>/`` and the shared
folders granted to it, named ``shared:<folder>/<path>`` (``source_paths``). This
module creates folders, grants and revokes them, tells the runner and the rule
preview which folders a programme may read, and checks a definition's sources at
save time (the JSON Schema cannot: it does not know the programme).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from portal import access
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme, SharedFolder, SharedFolderGrant, User
from portal.services import Conflict, DomainError, NotFound, audit
from portal.services.pipeline_spec import SpecError
from portal.services.source_paths import (
    FOLDER_NAME_RE,
    SourceFormError,
    clean_relative,
    iter_sources,
    problems,
)


def namespace(data_root: Path | str, code: str) -> Path:
    """The programme's own folder ``DATA_ROOT/<CODE>``."""
    return Path(data_root) / code


def granted_paths(programme_id: int | None) -> dict[str, str]:
    """Name -> path (relative to DATA_ROOT) of the shared folders granted to a programme."""
    if programme_id is None:
        return {}
    rows = db.session.execute(
        select(SharedFolder.name, SharedFolder.path)
        .join(SharedFolderGrant, SharedFolderGrant.folder_id == SharedFolder.id)
        .where(SharedFolderGrant.programme_id == programme_id)
    )
    return {name: path for name, path in rows}


def _namespace_clash(path: str) -> str | None:
    """The code of the programme whose namespace ``path`` is or lies inside, if any."""
    first = path.replace("\\", "/").split("/", 1)[0]
    return db.session.scalar(select(MonitoringProgramme.code).where(
        func.upper(MonitoringProgramme.code) == first.upper()))


def granted_folders(programme_id: int | None, data_root: Path | str,
                    paths: dict[str, str] | None = None) -> dict[str, Path]:
    """Name -> folder of the shared folders granted to a programme, for a run or a preview.

    A folder whose recorded path is unusable, or that resolves outside DATA_ROOT or
    into a programme's namespace (a symlink put there by hand), is left out: a source
    naming it then fails as "not granted". Paths are never shown to users. ``paths``:
    the programme's :func:`granted_paths`, when the caller has read them already.
    """
    root = Path(data_root).resolve()
    usable: dict[str, Path] = {}
    if paths is None:
        paths = granted_paths(programme_id)
    for name, path in paths.items():
        try:
            clean = clean_relative(path, "shared folder path")
        except SourceFormError:
            continue
        resolved = (root / clean).resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            continue
        if _namespace_clash(str(resolved.relative_to(root))):
            continue
        usable[name] = resolved
    return usable


def source_problems(programme_id: int | None, pipeline: Any, rules: Any,
                    paths: dict[str, str] | None = None) -> list[SpecError]:
    """The sources of ``pipeline`` and ``rules`` that the programme may not read.

    Each problem names its JSON path: a source of the wrong form, or one naming a
    shared folder not granted to the programme (``programme_id`` None: a programme
    being created, which has no grants yet). ``paths`` as for :func:`granted_folders`.
    """
    granted = set(granted_paths(programme_id) if paths is None else paths)
    return [SpecError(path, message)
            for path, message in problems(iter_sources(pipeline, rules), granted)]


def split_problems(found: list[SpecError]) -> tuple[list[str], list[str]]:
    """Pipeline problems and rule problems, as text (for the two editor fields)."""
    pipeline = [str(p) for p in found if p.path.startswith("$.steps")]
    return pipeline, [str(p) for p in found if p.path.startswith("$.rules")]


def code_clash(code: str) -> str | None:
    """The shared folder whose path starts with ``code`` (case-insensitive), if any."""
    for name, path in db.session.execute(select(SharedFolder.name, SharedFolder.path)):
        if path.replace("\\", "/").split("/", 1)[0].upper() == code.upper():
            return name
    return None


def _require_admin(user: User) -> None:
    if not access.can_manage_shared_folders(user):
        raise DomainError(access.ACTION_EXPLANATIONS["shared_folders"])


def list_folders() -> list[SharedFolder]:
    """Every shared folder with its grants, by name."""
    return list(db.session.scalars(select(SharedFolder).order_by(SharedFolder.name)))


def get_folder(name: str) -> SharedFolder:
    """The shared folder called ``name``; NotFound otherwise."""
    if not isinstance(name, str) or not FOLDER_NAME_RE.match(name):
        raise NotFound(f"No shared folder {name!r}.", field="folder")
    folder = db.session.scalar(select(SharedFolder).where(SharedFolder.name == name))
    if folder is None:
        raise NotFound(f"No shared folder {name!r}.", field="folder")
    return folder


def create_folder(user: User, name: str, path: str, description: str = "", *,
                  request_id: str | None = None) -> SharedFolder:
    """Create a shared folder (admins only; audited).

    Raises:
        DomainError: naming the field: a bad name, a path that is absolute, has '..',
            or is (or lies inside) a programme's namespace; Conflict when taken.
    """
    _require_admin(user)
    name, path = (name or "").strip(), (path or "").strip().rstrip("/")
    if not FOLDER_NAME_RE.match(name):
        raise DomainError("The name must be 1–64 letters, digits, '.', '_' or '-', starting "
                          "with a letter or digit.", field="name")
    try:
        clean = str(clean_relative(path, "path"))
    except SourceFormError as error:
        raise DomainError(f"{error}: give a folder relative to DATA_ROOT.", field="path") from None
    if len(clean) > 500:
        raise DomainError("The path is too long (500 characters at most).", field="path")
    description = (description or "").strip()
    if "\x00" in description or len(description) > 2000:
        raise DomainError("The description must be plain text of 2000 characters at most.",
                          field="description")
    begin_write()
    if clash := _namespace_clash(clean):
        raise DomainError(f"The path {clean!r} is programme {clash}'s own folder (or inside "
                          "it): a shared folder must lie outside every programme's folder.",
                          field="path")
    if db.session.scalar(select(SharedFolder.id).where(SharedFolder.name == name)):
        raise Conflict(f"A shared folder named {name!r} already exists.", field="name")
    if db.session.scalar(select(SharedFolder.id).where(SharedFolder.path == clean)):
        raise Conflict(f"Another shared folder already has the path {clean!r}.", field="path")
    folder = SharedFolder(name=name, path=clean, description=description,
                          created_by_id=user.id)
    db.session.add(folder)
    db.session.flush()
    audit.record("shared_folder_created", actor=user, object_type="shared_folder",
                 object_id=name, metadata={"path": clean}, request_id=request_id)
    db.session.commit()
    return folder


def grant(user: User, folder: SharedFolder, programme: MonitoringProgramme, *,
          request_id: str | None = None) -> SharedFolderGrant:
    """Grant ``folder`` to ``programme`` (admins only; audited). Conflict when granted."""
    _require_admin(user)
    begin_write()
    if db.session.scalar(select(SharedFolderGrant.id).where(
            SharedFolderGrant.folder_id == folder.id,
            SharedFolderGrant.programme_id == programme.id)):
        raise Conflict(f"{folder.name!r} is already granted to {programme.code}.",
                       field="programme")
    row = SharedFolderGrant(folder_id=folder.id, programme_id=programme.id,
                            granted_by_id=user.id)
    db.session.add(row)
    audit.record("shared_folder_granted", actor=user, object_type="shared_folder",
                 object_id=folder.name, programme_id=programme.id,
                 metadata={"programme": programme.code}, request_id=request_id)
    db.session.commit()
    return row


def revoke(user: User, folder: SharedFolder, programme: MonitoringProgramme, *,
           request_id: str | None = None) -> None:
    """Revoke ``folder`` from ``programme`` (admins only; audited).

    The programme's next run (and rule preview) that names the folder fails with the
    reason; its saved definition is left as it is.
    """
    _require_admin(user)
    begin_write()
    row = db.session.scalar(select(SharedFolderGrant).where(
        SharedFolderGrant.folder_id == folder.id,
        SharedFolderGrant.programme_id == programme.id))
    if row is None:
        raise NotFound(f"{folder.name!r} is not granted to {programme.code}.",
                       field="programme")
    db.session.delete(row)
    audit.record("shared_folder_revoked", actor=user, object_type="shared_folder",
                 object_id=folder.name, programme_id=programme.id,
                 metadata={"programme": programme.code}, request_id=request_id)
    db.session.commit()
