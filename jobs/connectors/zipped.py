"""Read zip archives in memory through ``portal.services.safezip``, as step errors.

The archive is checked from its central directory when it is opened (member count,
declared sizes, compression ratio, total, names, links, encryption) and each member is
inflated by counting the bytes it really produces, so a zip bomb or a lying header fails
the step with a message naming the member and the limit.
"""

from __future__ import annotations

from jobs.steps.base import StepError
from portal.services.safezip import SafeZip, ZipLimits, ZipRefused


class ZipReader:
    """An opened zip archive whose central directory passed every check.

    Args:
        data: the archive's bytes.
        name: the archive's name, used in error messages.
        limits: the deployment's ``ZIP_*`` limits (``ctx.zip_limits``); defaults when None.
    """

    def __init__(self, data: bytes, name: str, limits: ZipLimits | None = None) -> None:
        self.name = name
        try:
            self._zip = SafeZip(data, name, limits)
        except ZipRefused as exc:
            raise StepError(exc.message) from None
        self.members = self._zip.members

    def find(self, filename: str) -> str | None:
        """Return the member named ``filename`` at the root or in one top-level folder."""
        return self._zip.find(filename)

    def read(self, member: str, what: str | None = None) -> bytes:
        """Return a member's bytes; a StepError names a missing, damaged or oversized member."""
        if member not in self.members:
            listing = ", ".join(self.members[:10]) or "none"
            raise StepError(
                f"{self.name}: {member!r}{' ' + what if what else ''} is not in the archive "
                f"(members: {listing})"
            )
        try:
            return self._zip.read(member)
        except ZipRefused as exc:
            raise StepError(exc.message) from None
