"""Versioned, immutable releases under ``PUBLISH_ROOT/<programme code>/<major.minor>/``.

A release is assembled in a temporary directory beside the versions and moved into
place with one ``os.rename``. The rename doubles as the lock between concurrent
publishers: renaming onto an existing (non-empty) release fails, and the loser picks
the next version. Files and the directory are made read-only before the rename, so a
release is never seen half-written nor modified afterwards.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from jobs.steps.base import sha256_bytes, sha256_file
from portal.services.candidates import discard, take_version

VERSION_PATTERN = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_ATTEMPTS = 1000


class ReleaseError(Exception):
    """A release cannot be written (bad programme code, unwritable root…)."""


def parse_version(text: str) -> tuple[int, int]:
    """Return ``(major, minor)`` of a ``"major.minor"`` string; ValueError otherwise."""
    match = VERSION_PATTERN.match(text)
    if not match:
        raise ValueError(f"not a release version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def next_version(latest: str | None, bump: str = "minor") -> str:
    """The version after ``latest``: 1.0 first, then 1.1…; ``bump="major"`` gives 2.0."""
    if latest is None:
        return "1.0"
    major, minor = parse_version(latest)
    return f"{major + 1}.0" if bump == "major" else f"{major}.{minor + 1}"


def programme_dir(publish_root: Path, programme_code: str) -> Path:
    """``publish_root/<code>``, refusing a code that could leave the root."""
    if not SAFE_NAME.match(programme_code) or programme_code in {".", ".."}:
        raise ReleaseError(f"programme code {programme_code!r} cannot name a release folder")
    return Path(publish_root) / programme_code


def list_versions(base: Path) -> list[str]:
    """Published versions in ``base``, oldest first (temporary folders ignored)."""
    if not base.is_dir():
        return []
    versions = [p.name for p in base.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name)]
    return sorted(versions, key=parse_version)


def latest_version(base: Path) -> str | None:
    """The highest published version in ``base``, or None."""
    versions = list_versions(base)
    return versions[-1] if versions else None


def same_files(release_dir: Path, files: Mapping[str, bytes], suffix: str = ".csv") -> bool:
    """True when ``release_dir`` holds exactly these ``*suffix`` files with these bytes."""
    existing = {p.name: p for p in release_dir.glob(f"*{suffix}") if p.is_file()}
    wanted = {name for name in files if name.endswith(suffix)}
    if set(existing) != wanted:
        return False
    return all(sha256_file(existing[name]) == sha256_bytes(files[name]) for name in wanted)


MetadataBuilder = Callable[[str], Mapping[str, bytes]]


def commit_release(
    base: Path,
    data_files: Mapping[str, bytes],
    metadata: MetadataBuilder,
    bump: str = "minor",
) -> tuple[str, bool]:
    """Write a new release into ``base`` atomically, or find that nothing changed.

    Args:
        base: ``publish_root/<code>``; created when missing.
        data_files: file name -> bytes of the data (CSV) files.
        metadata: version -> further files (datapackage.json, lineage.json) naming it.
        bump: "minor" or "major" (relative to the latest release at commit time).

    Returns:
        ``(version, published)``: the new version and True, or the newest version that
        is not withdrawn and False when its CSV files already have exactly these bytes.
    """
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
    try:
        for name, data in data_files.items():
            (staging / name).write_bytes(data)
        for _ in range(MAX_ATTEMPTS):
            latest, live = latest_version(base), live_version(base)
            if live is not None and same_files(base / live, data_files):
                return live, False
            version = next_version(latest, bump)
            if take_version(staging, base, version, metadata(version)):
                return version, True
        raise ReleaseError(f"no free version in {base} after {MAX_ATTEMPTS} attempts")
    finally:
        discard(staging)


def planned_version(base: Path, data_files: Mapping[str, bytes], bump: str = "minor") -> str | None:
    """The version a publish would take now, or None when nothing changed (reads only)."""
    live = live_version(base)
    if live is not None and same_files(base / live, data_files):
        return None
    return next_version(latest_version(base), bump)


def live_version(base: Path) -> str | None:
    """The newest version that is not withdrawn: what "unchanged" is measured against.

    Data equal to a withdrawn release is published again as a new version (the
    withdrawal stands; consumers get the data back under a version that is live).
    """
    from portal.services.candidates import previous_good

    return previous_good(base)
