"""Zip archives read defensively: checked from the central directory, inflated by counting.

One module for every zip the portal or a worker opens (Darwin Core Archives, zipped
Frictionless packages). It needs only the standard library, so the web process and the
workers share it (``jobs`` may import ``portal.services``; never the other way round).

Two lines of defence against zip bombs and hostile archives:

1. ``SafeZip(data, name, limits)`` reads only the end-of-central-directory record, the
   central directory and the local headers — nothing is inflated — and refuses the
   archive when it has too many members, a member declaring more than the per-member
   limit, a member whose declared size is more than ``max_ratio`` times its compressed
   size, a declared total over the limit, an absolute or ``..`` member name, a symlink,
   an encrypted member, an unsupported compression method, duplicate names, members whose
   bytes overlap, or a local header that disagrees with the central directory.
2. ``SafeZip.read`` / ``SafeZip.stream`` inflate a member in bounded chunks and count
   the bytes actually produced: declared sizes can lie, so a member that inflates past
   its declared size (itself within the ratio), the per-member limit or the archive's
   total is refused mid-stream, before the excess is held in memory.

Every refusal is a ``ZipRefused`` whose message names the archive, the member and the
limit, in words a steward can act on.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# The compression ratio is only judged above this size: tiny, very regular files
# (a constant column, a short meta.xml) legitimately compress far better than 100:1.
RATIO_FLOOR_BYTES = 1 << 20
# Compressed bytes fed to the inflater at a time, and the most it may produce per call.
_CHUNK_IN = 64 << 10
_CHUNK_OUT = 1 << 20
# A central directory entry is 46 bytes plus its name, extra field and comment; a
# directory far larger than the member limit allows is refused before it is parsed.
_CD_BYTES_PER_MEMBER = 4096
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_SUPPORTED = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


class ZipRefused(Exception):
    """The archive (or one of its members) is refused; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ZipLimits:
    """What any zip archive may contain (``ZIP_*`` settings in ``config.py``).

    Attributes:
        max_members: entries in the central directory, folders included.
        max_member_bytes: uncompressed bytes of one member (declared and actual).
        max_total_bytes: uncompressed bytes of all members together.
        max_ratio: uncompressed / compressed size of one member (above 1 MiB).
    """

    max_members: int = 1000
    max_member_bytes: int = 1 << 30
    max_total_bytes: int = 2 << 30
    max_ratio: int = 100

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ZipLimits:
        """Build the limits from a Flask config (missing keys keep the defaults)."""
        defaults = cls()
        return cls(
            max_members=int(config.get("ZIP_MAX_MEMBERS", defaults.max_members)),
            max_member_bytes=int(config.get("ZIP_MAX_MEMBER_BYTES", defaults.max_member_bytes)),
            max_total_bytes=int(config.get("ZIP_MAX_TOTAL_BYTES", defaults.max_total_bytes)),
            max_ratio=int(config.get("ZIP_MAX_RATIO", defaults.max_ratio)),
        )


def _declared_entries(data: bytes) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end record, or None if there is none."""
    tail_start = max(0, len(data) - (_EOCD.size + 0xFFFF))
    position = data.rfind(b"PK\x05\x06", tail_start)
    if position < 0 or position + _EOCD.size > len(data):
        return None
    _, _, _, _, entries, cd_size, _, _ = _EOCD.unpack_from(data, position)
    locator = position - _ZIP64_LOCATOR.size
    if locator >= 0 and data[locator:locator + 4] == b"PK\x06\x07":
        _, _, zip64_offset, _ = _ZIP64_LOCATOR.unpack_from(data, locator)
        if zip64_offset + _ZIP64_EOCD.size <= len(data) and \
                data[zip64_offset:zip64_offset + 4] == b"PK\x06\x06":
            fields = _ZIP64_EOCD.unpack_from(data, zip64_offset)
            entries, cd_size = fields[7], fields[8]
    return entries, cd_size


def _is_unsafe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return (path.is_absolute() or ".." in path.parts or "\x00" in name
            or re.match(r"^[A-Za-z]:", name) is not None)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


class SafeZip:
    """An archive whose central directory passed every check; members read by counting.

    Args:
        data: the archive's bytes.
        name: the archive's name, used in every message.
        limits: the limits to apply.

    Raises:
        ZipRefused: not a zip, damaged, or over a limit (the message says which).
    """

    def __init__(self, data: bytes, name: str, limits: ZipLimits | None = None) -> None:
        self.name = name
        self.limits = limits or ZipLimits()
        self._data = data
        self._inflated_total = 0
        declared = _declared_entries(data)
        if declared is None:
            raise ZipRefused(f"{name}: not a readable zip archive (no end of central "
                             "directory record: truncated or not a zip)")
        entries, cd_size = declared
        self._check_count(entries)
        if cd_size > self.limits.max_members * _CD_BYTES_PER_MEMBER:
            raise ZipRefused(f"{name}: the central directory is {cd_size:,} bytes, too large "
                             f"for at most {self.limits.max_members:,} members")
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error) as exc:
            raise ZipRefused(f"{name}: not a readable zip archive (truncated or not a zip): "
                             f"{exc}") from None
        self._check_count(len(infos))
        self._data_start: dict[str, int] = {}
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._check_members(infos)
        self._check_layout(infos)
        self.members = [info.filename for info in infos if not info.is_dir()]

    # -- the central directory ------------------------------------------------------

    def _check_count(self, count: int) -> None:
        if count > self.limits.max_members:
            raise ZipRefused(f"{self.name}: the archive has {count:,} members; the limit is "
                             f"{self.limits.max_members:,} (ZIP_MAX_MEMBERS)")

    def _check_members(self, infos: list[zipfile.ZipInfo]) -> None:
        limits, total = self.limits, 0
        for info in infos:
            member = info.filename
            where = f"{self.name}: member {member!r}"
            if _is_unsafe_name(member):
                raise ZipRefused(f"{self.name}: unsafe member name {member!r} (absolute path "
                                 "or '..'): the archive is refused")
            if member in self._infos:
                raise ZipRefused(f"{where} appears twice in the archive: the archive is "
                                 "refused")
            if _is_symlink(info):
                raise ZipRefused(f"{where} is a symbolic link: links are refused")
            if info.flag_bits & 0x1:
                raise ZipRefused(f"{where} is encrypted: upload an archive without a password")
            if info.compress_type not in _SUPPORTED:
                raise ZipRefused(f"{where} uses compression method {info.compress_type}; "
                                 "only stored and deflate members are read")
            if info.file_size > limits.max_member_bytes:
                raise ZipRefused(f"{where} declares {info.file_size:,} bytes uncompressed; "
                                 f"the limit is {limits.max_member_bytes:,} bytes per member "
                                 "(ZIP_MAX_MEMBER_BYTES)")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
                raise ZipRefused(f"{where} would inflate {info.compress_size:,} bytes to "
                                 f"{info.file_size:,} (ratio {ratio:,.0f}:1); the limit is "
                                 f"{limits.max_ratio}:1 (ZIP_MAX_RATIO): a zip bomb?")
            total += info.file_size
            if total > limits.max_total_bytes:
                raise ZipRefused(f"{self.name}: the members declare more than "
                                 f"{limits.max_total_bytes:,} bytes uncompressed in total "
                                 f"(reached at {member!r}; ZIP_MAX_TOTAL_BYTES)")
            self._infos[member] = info

    def _check_layout(self, infos: list[zipfile.ZipInfo]) -> None:
        """Local headers must match the directory and members' bytes must not overlap."""
        spans: list[tuple[int, int, str]] = []
        for info in infos:
            member, offset = info.filename, info.header_offset
            if offset < 0 or offset + _LOCAL_HEADER.size > len(self._data):
                raise ZipRefused(f"{self.name}: member {member!r} points outside the archive")
            header = _LOCAL_HEADER.unpack_from(self._data, offset)
            if header[0] != b"PK\x03\x04":
                raise ZipRefused(f"{self.name}: member {member!r} has no local header where "
                                 "the central directory says (damaged archive)")
            name_length, extra_length = header[9], header[10]
            start = offset + _LOCAL_HEADER.size
            raw_name = self._data[start:start + name_length]
            encoding = "utf-8" if header[2] & 0x800 else "cp437"
            if raw_name.decode(encoding, "replace") != info.orig_filename:
                raise ZipRefused(f"{self.name}: member {member!r} is named differently in its "
                                 "local header: the archive is refused")
            data_start = start + name_length + extra_length
            end = data_start + info.compress_size
            if end > len(self._data):
                raise ZipRefused(f"{self.name}: member {member!r} is truncated (the archive "
                                 "ends before its data)")
            self._data_start[member] = data_start
            spans.append((offset, end, member))
        spans.sort()
        for (_, end, member), (next_offset, _, other) in zip(spans, spans[1:], strict=False):
            if end > next_offset:
                raise ZipRefused(f"{self.name}: members {member!r} and {other!r} share bytes "
                                 "(overlapping entries, a zip-bomb technique): refused")

    # -- reading ---------------------------------------------------------------------

    def find(self, filename: str) -> str | None:
        """Return the member named ``filename`` at the root or in one top-level folder."""
        if filename in self.members:
            return filename
        nested = [m for m in self.members if m.endswith(f"/{filename}") and m.count("/") == 1]
        return nested[0] if len(nested) == 1 else None

    def declared_size(self, member: str) -> int:
        """The uncompressed size the central directory declares for ``member``."""
        return self._infos[member].file_size

    def stream(self, member: str, cap: int | None = None) -> Iterator[bytes]:
        """Inflate ``member`` in chunks, counting the bytes actually produced.

        Args:
            member: a member name from ``members``.
            cap: stop (refuse) past this many bytes, e.g. while sniffing a descriptor.

        Raises:
            ZipRefused: the member inflates past its declared size, ``cap``, a limit, or
                is damaged (bad data or CRC).
        """
        info = self._infos.get(member)
        if info is None or info.is_dir():
            raise ZipRefused(f"{self.name}: {member!r} is not in the archive")
        produced, crc = 0, 0
        for chunk in self._inflate(member, info):
            produced += len(chunk)
            self._inflated_total += len(chunk)
            self._check_stream(member, info, produced, cap)
            crc = zlib.crc32(chunk, crc)
            yield chunk
        if produced != info.file_size or crc != info.CRC:
            raise ZipRefused(f"{self.name}: member {member!r} is damaged: it inflates to "
                             f"{produced:,} bytes (declared {info.file_size:,}) or fails its "
                             "checksum")

    def _inflate(self, member: str, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's bytes in chunks of at most 1 MiB, whatever its headers declare."""
        start = self._data_start[member]
        compressed = memoryview(self._data)[start:start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            for offset in range(0, len(compressed), _CHUNK_OUT):
                yield bytes(compressed[offset:offset + _CHUNK_OUT])
            return
        inflater, consumed = zlib.decompressobj(-15), 0
        while not inflater.eof:
            pending = inflater.unconsumed_tail
            if not pending and consumed < len(compressed):
                pending = bytes(compressed[consumed:consumed + _CHUNK_IN])
                consumed += len(pending)
            try:
                chunk = inflater.decompress(pending, _CHUNK_OUT)
            except zlib.error as exc:
                raise ZipRefused(f"{self.name}: member {member!r} is damaged: {exc}") from None
            if chunk:
                yield chunk
            elif not inflater.unconsumed_tail and consumed >= len(compressed):
                raise ZipRefused(f"{self.name}: member {member!r} is damaged (its compressed "
                                 "data ends early)")

    def _check_stream(self, member: str, info: zipfile.ZipInfo, produced: int,
                      cap: int | None) -> None:
        where, limits = f"{self.name}: member {member!r}", self.limits
        if cap is not None and produced > cap:
            raise ZipRefused(f"{where} is larger than {cap:,} bytes, the most read from it here")
        if produced > limits.max_member_bytes:
            raise ZipRefused(f"{where} inflates past {limits.max_member_bytes:,} bytes, the "
                             "limit per member (ZIP_MAX_MEMBER_BYTES): refused mid-stream")
        if produced > info.file_size:
            raise ZipRefused(f"{where} inflates past its declared size of {info.file_size:,} "
                             "bytes: the central directory lies; refused mid-stream")
        if self._inflated_total > limits.max_total_bytes:
            raise ZipRefused(f"{self.name}: members inflate past {limits.max_total_bytes:,} "
                             "bytes in total (ZIP_MAX_TOTAL_BYTES): refused mid-stream")

    def read(self, member: str, cap: int | None = None) -> bytes:
        """Return a member's bytes, inflated by ``stream`` with every limit applied."""
        return b"".join(self.stream(member, cap))
