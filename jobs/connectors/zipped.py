"""Read zip archives in memory, refusing unsafe member names and damaged archives."""

from __future__ import annotations

import io
import zipfile
import zlib

from jobs.connectors.sources import check_relative
from jobs.steps.base import StepError

# An archive claiming more than this uncompressed is refused (zip bombs).
MAX_UNCOMPRESSED_BYTES = 4 << 30


class ZipReader:
    """An opened zip archive whose member names have all been checked.

    Args:
        data: the archive's bytes.
        name: the archive's name, used in error messages.
    """

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise StepError(
                f"{name}: not a readable zip archive (truncated or not a zip): {exc}"
            ) from None
        for info in infos:
            try:
                check_relative(info.filename, "archive member")
            except StepError:
                raise StepError(
                    f"{name}: unsafe member name {info.filename!r} (absolute path or '..'): "
                    "the archive is refused"
                ) from None
        if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED_BYTES:
            raise StepError(f"{name}: the archive expands beyond {MAX_UNCOMPRESSED_BYTES} bytes")
        self.members = [info.filename for info in infos if not info.is_dir()]

    def find(self, filename: str) -> str | None:
        """Return the member named ``filename`` at the root or in one top-level folder."""
        if filename in self.members:
            return filename
        nested = [m for m in self.members if m.endswith(f"/{filename}") and m.count("/") == 1]
        return nested[0] if len(nested) == 1 else None

    def read(self, member: str, what: str | None = None) -> bytes:
        """Return a member's bytes; a StepError names a missing or damaged member."""
        if member not in self.members:
            listing = ", ".join(self.members[:10]) or "none"
            raise StepError(
                f"{self.name}: {member!r}{' ' + what if what else ''} is not in the archive "
                f"(members: {listing})"
            )
        try:
            return self._zip.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise StepError(f"{self.name}: member {member!r} is damaged: {exc}") from None
