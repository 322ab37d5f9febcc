"""Which licence a release is published under, and the licences inputs declare.

An ingest step that reads a package with its own metadata records the licence it
declares in ``ctx.lineage["licenses"]`` (``{"uri", "licence"}``): a Frictionless or
Camtrap DP package's ``licenses``, a Darwin Core Archive's EML (``<licensed>`` of EML
2.2, or the ``<ulink>`` in ``<intellectualRights>`` that the GBIF IPT writes).

``publish.release`` then takes, in order: its own ``params.license``, the programme's
``licence``, or the one licence its inputs declare. With none of them — or inputs that
declare different licences and nothing to settle it — the step fails with the reason:
a release is never published under a licence nobody chose.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from jobs.connectors.zipped import ZipReader
from jobs.steps.base import StepContext, StepError
from portal.services.licences import SPDX_ID, URL, licence_descriptor, licence_error
from portal.services.safezip import ZipLimits

NO_LICENCE = (
    "no licence for the release: set the programme's release licence (Edit programme → "
    "Release licence, e.g. CC-BY-4.0), give publish.release a \"license\" parameter, or "
    "ingest a package whose metadata declares one (datapackage.json \"licenses\", or the "
    "EML of a Darwin Core Archive); nothing was published"
)


def package_licence(descriptor: dict[str, Any]) -> str | None:
    """The first licence of a Frictionless descriptor's ``licenses`` (SPDX name, or path
    and title), or None when it declares none."""
    licenses = descriptor.get("licenses")
    if not isinstance(licenses, list):
        return None
    for entry in licenses:
        if not isinstance(entry, dict):
            continue
        name, path = str(entry.get("name") or "").strip(), str(entry.get("path") or "").strip()
        if name and SPDX_ID.match(name):
            return name
        if path and URL.match(path):
            title = str(entry.get("title") or "").strip()
            return f"{path} {title}".strip()
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def eml_licence(xml: bytes) -> str | None:
    """The licence an EML document declares, or None (free-text rights are not guessed)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for element in root.iter():
        if _local(element.tag) == "licensed":
            parts = {_local(child.tag): (child.text or "").strip() for child in element}
            if parts.get("identifier") and SPDX_ID.match(parts["identifier"]):
                return parts["identifier"]
            if parts.get("url") and URL.match(parts["url"]):
                return f"{parts['url']} {parts.get('licenseName', '')}".strip()
    for element in root.iter():
        if _local(element.tag) != "intellectualRights":
            continue
        for link in element.iter():
            url = (link.get("url") or "").strip()
            if _local(link.tag) == "ulink" and URL.match(url):
                title = " ".join("".join(link.itertext()).split())
                return f"{url} {title}".strip()
    return None


def dwca_licence(data: bytes, name: str, limits: ZipLimits | None = None) -> str | None:
    """The licence in a Darwin Core Archive's EML (named by meta.xml's ``metadata``)."""
    archive = ZipReader(data, name, limits)
    meta = archive.find("meta.xml")
    member = None
    if meta is not None:
        try:
            declared = ET.fromstring(archive.read(meta)).get("metadata")
        except ET.ParseError:
            declared = None
        candidate = meta[: -len("meta.xml")] + declared if declared else None
        member = candidate if candidate in archive.members else None
    member = member or archive.find("eml.xml")
    return eml_licence(archive.read(member)) if member else None


def record_input_licence(ctx: StepContext, uri: str, licence: str | None) -> None:
    """Remember that input ``uri`` declares ``licence`` (nothing when it declares none)."""
    if licence and not licence_error(licence):
        ctx.lineage.setdefault("licenses", []).append({"uri": uri, "licence": licence})
        ctx.log(f"{uri} declares the licence {licence}")


def release_licence(ctx: StepContext) -> tuple[str, str]:
    """The licence a release of this run is published under, and where it came from.

    Returns:
        ``(licence, source)`` with source ``"pipeline"``, ``"programme"`` or ``"input"``.

    Raises:
        StepError: no licence declared anywhere, a malformed one, or inputs declaring
            different licences with no programme licence to settle it.
    """
    for value, source in ((ctx.params.get("license"), "pipeline"),
                          (ctx.programme_licence, "programme")):
        if value and str(value).strip():
            if problem := licence_error(str(value)):
                raise StepError(f"the {source}'s licence {value!r} is not usable: {problem}")
            return str(value).strip(), source
    declared: dict[str, list[str]] = {}
    for entry in ctx.lineage.get("licenses", []):
        declared.setdefault(entry["licence"], []).append(entry["uri"])
    if len(declared) > 1:
        listing = "; ".join(f"{licence} ({', '.join(uris)})" for licence, uris in declared.items())
        raise StepError(f"the inputs declare different licences: {listing}; set the "
                        "programme's release licence to say which the release carries; "
                        "nothing was published")
    if not declared:
        raise StepError(NO_LICENCE)
    return next(iter(declared)), "input"


def licences_entry(licence: str) -> list[dict[str, str]]:
    """The ``licenses`` list of a release's datapackage.json."""
    return [licence_descriptor(licence)]
