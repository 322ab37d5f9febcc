"""Open a zipped Frictionless data package (used by ``ingest.frictionless`` and Camtrap DP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.connectors.frictionless import DESCRIPTOR, parse_descriptor
from jobs.connectors.sources import RawInput, read_data_file
from jobs.connectors.zipped import ZipReader
from jobs.steps.base import StepContext, StepError


@dataclass(frozen=True)
class ZippedPackage:
    """A data package read from a zip: the zip's input, its members and the descriptor."""

    raw: RawInput
    archive: ZipReader
    base: str
    descriptor: dict[str, Any]

    def read_part(self, part: str) -> tuple[str, bytes]:
        """The URI and bytes of a resource path, relative to the descriptor's folder."""
        return f"{self.raw.uri}:{self.base}{part}", self.archive.read(self.base + part)


def open_zipped_package(ctx: StepContext, source: str, kind: str) -> ZippedPackage:
    """Read ``source`` (a zip) and parse the ``datapackage.json`` found in it.

    Args:
        ctx: the step's context (its data root and zip limits).
        source: the zip's path or URI.
        kind: what the package should be, for the error (e.g. "a data package").

    Raises:
        StepError: the archive holds no ``datapackage.json``.
    """
    raw = read_data_file(ctx, source)
    archive = ZipReader(raw.data, raw.uri, ctx.zip_limits)
    member = archive.find(DESCRIPTOR)
    if member is None:
        raise StepError(f"{raw.uri}: no {DESCRIPTOR} in the archive: not {kind}")
    descriptor = parse_descriptor(archive.read(member), f"{raw.uri}:{member}")
    return ZippedPackage(raw, archive, member[: -len(DESCRIPTOR)], descriptor)
