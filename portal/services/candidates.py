"""Release candidates on disk: ``PUBLISH_ROOT/<code>/.candidates/<run uuid>/``.

A run of a programme with the sign-off gate writes its release here (data files,
``datapackage.json`` and ``lineage.json`` naming the version ``candidate``, and
``diff.json``) and takes no version. Approval publishes it like any release: the
files are copied into a temporary folder beside the versions with the version and the
review written into the metadata, sealed read-only, and moved into place with one
``os.rename`` (a version another publisher took meanwhile makes it try the next one).
Rejection and supersession delete the folder.

The withdrawn versions are listed in ``PUBLISH_ROOT/<code>/withdrawn.json`` (the
release folders themselves are immutable), so a worker that diffs a new candidate
against "the previous release" skips them without reading the database.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CANDIDATES = ".candidates"
CANDIDATE_VERSION = "candidate"
WITHDRAWN_INDEX = "withdrawn.json"
FOLDER_PATTERN = re.compile(r"^[0-9a-f-]{36}$")
VERSION_PATTERN = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")
METADATA = ("datapackage.json", "lineage.json")


class CandidateError(Exception):
    """A candidate cannot be staged or published (missing folder, unwritable root)."""


def json_bytes(document: Any) -> bytes:
    """The release files' JSON style: indented, sorted keys, UTF-8, newline-terminated."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str)
            + "\n").encode()


def version_key(version: str) -> tuple[int, int]:
    """Sort key of a ``major.minor`` version."""
    major, minor = version.split(".")
    return int(major), int(minor)


def versions(base: Path) -> list[str]:
    """Every version folder in ``base`` (withdrawn ones included), oldest first."""
    if not base.is_dir():
        return []
    return sorted((p.name for p in base.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name)),
                  key=version_key)


def withdrawn(base: Path) -> dict[str, Any]:
    """The withdrawn versions recorded in ``base/withdrawn.json`` (version -> record)."""
    try:
        document = json.loads((base / WITHDRAWN_INDEX).read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def write_withdrawn_index(base: Path, document: Mapping[str, Any]) -> None:
    """Write ``withdrawn.json`` (version -> record) whole, then rename it into place."""
    handle, temporary = tempfile.mkstemp(prefix=".withdrawn-", dir=base)
    with os.fdopen(handle, "wb") as out:
        out.write(json_bytes(document))
    os.replace(temporary, base / WITHDRAWN_INDEX)


def previous_good(base: Path, before: str | None = None) -> str | None:
    """The newest version that is not withdrawn (older than ``before`` when given)."""
    gone = withdrawn(base)
    for version in reversed(versions(base)):
        if version in gone or (before and version_key(version) >= version_key(before)):
            continue
        return version
    return None


def read_files(folder: Path, suffix: str = "") -> dict[str, bytes]:
    """File name -> bytes of the files of ``folder`` (those ending in ``suffix``)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and p.name.endswith(suffix)}


def candidate_dir(base: Path, folder: str) -> Path:
    """``base/.candidates/<folder>``, refusing a folder name that is not a run uuid."""
    if not FOLDER_PATTERN.match(folder or ""):
        raise CandidateError(f"not a candidate folder: {folder!r}")
    return base / CANDIDATES / folder


def stage(base: Path, folder: str, files: Mapping[str, bytes]) -> Path:
    """Write a candidate's files into ``base/.candidates/<folder>`` (replacing a stale one)."""
    target = candidate_dir(base, folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
    for name, data in files.items():
        (incoming / name).write_bytes(data)
    discard(target)
    os.rename(incoming, target)
    return target


def _unseal(folder: Path) -> None:
    folder.chmod(stat.S_IRWXU)
    for path in folder.iterdir():
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def discard(folder: Path) -> None:
    """Delete a candidate (or temporary) folder, read-only files included."""
    if folder.exists():
        _unseal(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _seal(folder: Path) -> None:
    for path in folder.iterdir():
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
                 | stat.S_IROTH | stat.S_IXOTH)


def take_version(staging: Path, base: Path, version: str, files: Mapping[str, bytes]) -> bool:
    """Write ``files`` into ``staging``, make it read-only and rename it to ``base/version``.

    The rename is atomic: readers see the whole release or none of it.

    Args:
        staging: a temporary folder inside ``base`` (kept writable on failure).
        base: the programme's release folder.
        version: the version to take.
        files: file name -> bytes, written over any of the same name in ``staging``.

    Returns:
        True when the version was taken; False when another publisher took it first.
    """
    _unseal(staging)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    _seal(staging)
    try:
        os.rename(staging, base / version)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        return False
    return True


def _with_version(files: dict[str, bytes], base: Path, version: str,
                  review: Mapping[str, Any]) -> dict[str, bytes]:
    package = json.loads(files["datapackage.json"])
    package["version"] = version
    title = str(package.get("title") or "")
    package["title"] = (title[: -len(CANDIDATE_VERSION)] + version
                        if title.endswith(CANDIDATE_VERSION) else title)
    package["review"] = dict(review)
    lineage = json.loads(files["lineage.json"])
    release = dict(lineage.get("release") or {})
    release.update(version=version, path=f"{base.name}/{version}")
    lineage["release"], lineage["review"] = release, dict(review)
    diff = json.loads(files["diff.json"]) if "diff.json" in files else None
    updated = {**files, "datapackage.json": json_bytes(package),
               "lineage.json": json_bytes(lineage)}
    if diff is not None:
        diff["to"] = version
        updated["diff.json"] = json_bytes(diff)
    return updated


def next_version(latest: str | None, bump: str) -> str:
    """1.0 first, then 1.1…; ``bump="major"`` gives the next major."""
    if latest is None:
        return "1.0"
    major, minor = version_key(latest)
    return f"{major + 1}.0" if bump == "major" else f"{major}.{minor + 1}"


def publish(base: Path, folder: str, review: Mapping[str, Any], bump: str = "minor",
            attempts: int = 1000) -> str:
    """Publish candidate ``folder`` as the next version; return the version taken.

    The candidate folder is deleted once the release is in place.

    Raises:
        CandidateError: the candidate is gone or lacks its metadata.
    """
    source = candidate_dir(base, folder)
    if not source.is_dir():
        raise CandidateError("the candidate's files are gone; re-run the programme")
    files = read_files(source)
    if any(name not in files for name in METADATA):
        raise CandidateError("the candidate has no datapackage.json or lineage.json")
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
    try:
        for _ in range(attempts):
            existing = versions(base)
            version = next_version(existing[-1] if existing else None, bump)
            if take_version(incoming, base, version,
                            _with_version(files, base, version, review)):
                discard(source)
                return version
        raise CandidateError(f"no free version in {base} after {attempts} attempts")
    finally:
        discard(incoming)
