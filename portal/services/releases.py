"""Published releases on disk (read-only): ``PUBLISH_ROOT/<code>/<major.minor>/<files>``.

Listing and serving are path-safe: a requested file must resolve inside the
programme's release folder; anything else is "not found".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from portal.services import NotFound

VERSION_PATTERN = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@dataclass
class ReleaseFile:
    """One file of a release."""

    name: str
    size: int


@dataclass
class Release:
    """One published version and its files."""

    version: str
    published_at: datetime
    files: list[ReleaseFile]


def _programme_dir(publish_root: str | Path, code: str) -> Path:
    return Path(publish_root).resolve() / code


def list_releases(publish_root: str | Path, code: str, limit: int = 20) -> list[Release]:
    """Return the programme's releases, newest first (at most ``limit``)."""
    base = _programme_dir(publish_root, code)
    if not base.is_dir():
        return []
    versions = sorted((p for p in base.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name)),
                      key=lambda p: tuple(int(x) for x in p.name.split(".")), reverse=True)
    releases = []
    for folder in versions[:limit]:
        files = sorted((ReleaseFile(f.name, f.stat().st_size) for f in folder.iterdir()
                        if f.is_file()), key=lambda f: f.name)
        releases.append(Release(folder.name,
                                datetime.fromtimestamp(folder.stat().st_mtime, UTC), files))
    return releases


def release_file(publish_root: str | Path, code: str, relative: str) -> Path:
    """Return the path of ``<version>/<file>`` inside the programme's releases.

    Raises:
        NotFound: the path is malformed, escapes the release folder or does not exist.
    """
    parts = relative.split("/")
    if len(parts) != 2 or not VERSION_PATTERN.match(parts[0]) or parts[1] in ("", ".", ".."):
        raise NotFound("No such release file.")
    base = _programme_dir(publish_root, code)
    try:
        path = (base / parts[0] / parts[1]).resolve()
        found = path.is_relative_to(base) and path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        raise NotFound("No such release file.")
    return path


def rejection_report(work_root: str | Path, recorded: str | None) -> Path:
    """Return the rejection report a validate step recorded, if it lies inside WORK_ROOT.

    Raises:
        NotFound: nothing recorded, outside WORK_ROOT, or deleted since.
    """
    if not recorded:
        raise NotFound("This run has no rejection report.")
    root = Path(work_root).resolve()
    path = Path(recorded)
    path = (path if path.is_absolute() else root / path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("The rejection report is no longer available.")
    return path
