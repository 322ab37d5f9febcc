"""The data inbox: files delivered to a programme, checked on arrival, stored once.

A file is sniffed from its bytes, not trusted by its extension: CSV/TSV text, a Darwin
Core Archive (zip with ``meta.xml``) or a Frictionless data package (zip with
``datapackage.json``). It is refused with a message saying what is wrong when it is
empty, too large, malformed, or not what its extension claims. Accepted files are
written under ``DATA_ROOT/<code>/inbox/`` with a new, timestamped name (never
overwriting an earlier upload), with their sha256, uploader and time in the database.
An ingest step whose ``source`` is ``inbox/latest`` (sources are relative to the
programme's folder ``DATA_ROOT/<code>/``) reads the newest upload.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree

import polars as pl
from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgramme, ProgrammeUpload, User, utcnow
from portal.services import DomainError, audit, input_sightings
from portal.services.safezip import SafeZip, ZipLimits, ZipRefused

TEXT_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv"}
ZIP_EXTENSIONS = {".zip"}
# The most of meta.xml or datapackage.json the web request inflates to sniff an archive.
SNIFF_MAX_BYTES = 1 << 20


class UploadRefused(DomainError):
    """The file was refused; nothing was written."""

    def __init__(self, message: str):
        super().__init__(message, field="file")


@dataclass(frozen=True)
class Sniffed:
    """What a file turned out to be."""

    kind: str
    summary: dict[str, Any]


def _find(names: list[str], filename: str) -> str | None:
    matches = [n for n in names if PurePosixPath(n).name == filename]
    return min(matches, key=len) if matches else None


def _read_descriptor(archive: SafeZip, member: str) -> bytes:
    """Inflate only the descriptor the sniff needs, and at most SNIFF_MAX_BYTES of it."""
    try:
        return archive.read(member, cap=SNIFF_MAX_BYTES)
    except ZipRefused as exc:
        raise UploadRefused(exc.message) from None


def _sniff_zip(filename: str, data: bytes, limits: ZipLimits) -> Sniffed:
    # Checked from the central directory; the web request inflates nothing but meta.xml or
    # datapackage.json. The worker inflates the rest, with the same limits, when a run reads it.
    try:
        archive = SafeZip(data, filename, limits)
    except ZipRefused as exc:
        raise UploadRefused(exc.message) from None
    names = archive.members
    meta, package = _find(names, "meta.xml"), _find(names, "datapackage.json")
    if meta:
        xml = _read_descriptor(archive, meta)
        if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
            raise UploadRefused("meta.xml has a document type declaration; they are refused.")
        try:
            root = ElementTree.fromstring(xml)
        except ElementTree.ParseError as exc:
            raise UploadRefused(f"meta.xml is not well-formed XML ({exc}).") from exc
        core = next((el for el in root if el.tag.endswith("core")), None)
        if core is None:
            raise UploadRefused("meta.xml has no <core> element: not a Darwin Core Archive.")
        location = next((el.text for el in core.iter() if el.tag.endswith("location")), None)
        if not location or location.strip() not in {n.split("/")[-1] for n in names} | set(names):
            raise UploadRefused(f"meta.xml names the core file {location!r}, which is not in "
                                "the archive.")
        return Sniffed("dwca", {"members": len(names), "core": location.strip(),
                                "row_type": core.get("rowType")})
    if package:
        try:
            descriptor = json.loads(_read_descriptor(archive, package))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UploadRefused(f"datapackage.json is not valid JSON ({exc}).") from exc
        resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
        if not resources or not isinstance(resources, list):
            raise UploadRefused("datapackage.json lists no resources.")
        return Sniffed("frictionless", {"members": len(names),
                                        "resources": [r.get("name") for r in resources
                                                      if isinstance(r, dict)]})
    raise UploadRefused("The zip archive has neither meta.xml (Darwin Core Archive) nor "
                        "datapackage.json (Frictionless data package).")


def _sniff_text(data: bytes) -> Sniffed:
    if b"\x00" in data[:65536]:
        raise UploadRefused("The file is binary, not CSV or TSV text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRefused(f"The file is not UTF-8 text (byte {exc.start} cannot be "
                            "decoded); save it as UTF-8 CSV.") from exc
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    if first_line.count(";") > max(first_line.count(","), first_line.count("\t")):
        delimiter = ";"
    header = next(csv.reader([first_line], delimiter=delimiter), [])
    header = [h.strip() for h in header]
    if len(header) < 2:
        raise UploadRefused("The first line has fewer than two columns: expected a header "
                            "row of a comma- or tab-separated table.")
    if any(not h for h in header):
        raise UploadRefused("The header row has an empty column name.")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise UploadRefused(f"The header row repeats column names: {', '.join(duplicates)}.")
    try:
        frame = pl.read_csv(io.BytesIO(text.encode()), separator=delimiter,
                            infer_schema=False, raise_if_empty=True)
    except Exception as exc:  # polars raises several error types for malformed text
        reason = str(exc).splitlines()[0][:300]
        raise UploadRefused(f"The table cannot be read: {reason}") from exc
    kind = "tsv" if delimiter == "\t" else "csv"
    return Sniffed(kind, {"rows": frame.height, "columns": frame.columns[:200],
                          "delimiter": delimiter})


def sniff(filename: str, data: bytes, zip_limits: ZipLimits | None = None) -> Sniffed:
    """Work out what ``data`` is and check it matches ``filename``'s extension.

    A zip archive is checked against ``zip_limits`` (the defaults when None) from its
    central directory; only its descriptor is inflated.

    Raises:
        UploadRefused: empty, malformed, or not what the extension says.
    """
    if not data:
        raise UploadRefused("The file is empty.")
    extension = Path(filename).suffix.lower()
    is_zip = data[:4] == b"PK\x03\x04"
    if extension in ZIP_EXTENSIONS and not is_zip:
        raise UploadRefused(f"The file's content does not match its extension: {filename!r} "
                            "is not a zip archive.")
    if extension in TEXT_EXTENSIONS and is_zip:
        raise UploadRefused(f"The file's content does not match its extension: {filename!r} "
                            "is a zip archive, not text.")
    if extension not in ZIP_EXTENSIONS and extension not in TEXT_EXTENSIONS:
        raise UploadRefused(f"Unsupported file type {extension or '(none)'!r}: upload .csv, "
                            ".tsv, or a .zip Darwin Core Archive or Frictionless package.")
    sniffed = (_sniff_zip(Path(filename).name, data, zip_limits or ZipLimits()) if is_zip
               else _sniff_text(data))
    if extension == ".tsv" and sniffed.kind != "tsv":
        raise UploadRefused(f"The file's content does not match its extension: {filename!r} "
                            "is not tab-separated.")
    return sniffed


def _safe_name(filename: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name).strip("._") or "upload"
    return name[-120:]


def inbox_dir(data_root: Path, programme: MonitoringProgramme) -> Path:
    """The programme's inbox folder under DATA_ROOT."""
    return data_root / programme.code / "inbox"


def store_upload(programme: MonitoringProgramme, user: User, filename: str, data: bytes, *,
                 data_root: Path, max_bytes: int, zip_limits: ZipLimits | None = None,
                 request_id: str | None = None) -> ProgrammeUpload:
    """Check and store an uploaded file; audit it. Nothing is written when it is refused.

    Args:
        programme: the programme receiving the file (access checked by the caller).
        user: the uploader.
        filename: the name the client gave.
        data: the file's bytes.
        data_root: DATA_ROOT.
        max_bytes: the size limit.
        zip_limits: what a zip archive may contain (``ZIP_*`` settings).
    """
    if len(data) > max_bytes:
        raise UploadRefused(f"The file is {len(data):,} bytes; the limit is {max_bytes:,}.")
    sniffed = sniff(filename, data, zip_limits)
    digest = hashlib.sha256(data).hexdigest()
    now = utcnow()
    folder = inbox_dir(data_root, programme)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{now:%Y%m%dT%H%M%S%fZ}-{digest[:8]}-{_safe_name(filename)}"
    # O_EXCL: an earlier upload is never overwritten, even by a racing twin.
    fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        upload = ProgrammeUpload(
            programme_id=programme.id, original_name=filename[:255],
            stored_path=str(stored.relative_to(data_root)), kind=sniffed.kind, bytes=len(data),
            sha256=digest, summary_json=sniffed.summary, uploaded_by_id=user.id,
            uploaded_at=now,
        )
        db.session.add(upload)
        db.session.flush()
        # The first sighting of these bytes, unless the programme already had them.
        input_sightings.record([{"programme_id": programme.id, "sha256": digest,
                                 "source": "upload", "first_seen_at": now,
                                 "uri": str(stored.relative_to(folder.parent))}])
        audit.record("programme_file_uploaded", actor=user, object_type="upload",
                     object_id=upload.uuid, programme_id=programme.id,
                     metadata={"name": filename, "kind": sniffed.kind, "bytes": len(data),
                               "sha256": digest, "stored_path": upload.stored_path},
                     request_id=request_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        stored.unlink(missing_ok=True)
        raise
    _point_latest(folder, stored)
    return upload


def _point_latest(folder: Path, stored: Path) -> None:
    """Keep ``inbox/latest`` (a relative symlink) pointing at the newest upload."""
    link = folder / "latest"
    temporary = folder / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(stored.name)
    os.replace(temporary, link)


def list_uploads(programme: MonitoringProgramme, limit: int = 50) -> list[ProgrammeUpload]:
    """The programme's uploads, newest first."""
    return list(db.session.scalars(
        select(ProgrammeUpload).where(ProgrammeUpload.programme_id == programme.id)
        .order_by(ProgrammeUpload.uploaded_at.desc(), ProgrammeUpload.id.desc()).limit(limit)
    ))
