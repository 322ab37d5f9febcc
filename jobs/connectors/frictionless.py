"""Frictionless data packages: a ``datapackage.json`` (on disk or in a zip) and its resources.

Only local, tabular resources are read: a ``path`` (one file or several parts) or
inline ``data``. A remote resource (a URL) is refused: fetch it with ``ingest.http``
so that the host allow-list applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl

from jobs.connectors.delimited import read_delimited
from jobs.connectors.records import records_to_frame
from jobs.connectors.sources import check_relative
from jobs.steps.base import StepError

DESCRIPTOR = "datapackage.json"

# Reads a resource part given its path relative to the package; returns (name, bytes).
PartReader = Callable[[str], tuple[str, bytes]]


def parse_descriptor(data: bytes, name: str) -> dict[str, Any]:
    """Parse a datapackage.json and check it lists resources."""
    try:
        descriptor = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StepError(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("resources"), list):
        raise StepError(f"{name}: a data package descriptor needs a 'resources' list")
    return descriptor


def pick_resource(descriptor: dict[str, Any], wanted: str | None, name: str) -> dict[str, Any]:
    """Return the resource named ``wanted``, or the first resource when no name is given."""
    resources = [r for r in descriptor["resources"] if isinstance(r, dict)]
    if not resources:
        raise StepError(f"{name}: the package has no resources")
    if wanted is None:
        return resources[0]
    for resource in resources:
        if resource.get("name") == wanted:
            return resource
    names = ", ".join(str(r.get("name")) for r in resources)
    raise StepError(f"{name}: no resource named {wanted!r} (resources: {names})")


def resource_parts(resource: dict[str, Any], name: str) -> list[str]:
    """Return the resource's local part paths; refuse URLs, absolute paths and '..'."""
    paths = resource.get("path")
    parts = [paths] if isinstance(paths, str) else paths
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
        raise StepError(f"{name}: resource {resource.get('name')!r} has no usable 'path'")
    for part in parts:
        if "://" in part:
            raise StepError(
                f"{name}: resource path {part!r} is remote; use an ingest.http step instead"
            )
        if part.startswith("shared:"):
            raise StepError(f"{name}: resource path {part!r} must be relative to the "
                            "descriptor's folder")
        check_relative(part, "resource path")
    return parts


def _dialect(resource: dict[str, Any], name: str) -> dict[str, Any]:
    dialect = resource.get("dialect") or {}
    if not isinstance(dialect, dict):
        raise StepError(f"{name}: only an inline 'dialect' object is supported")
    tabbed = resource.get("format") == "tsv" or "tab-separated" in str(resource.get("mediatype"))
    quote = dialect.get("quoteChar", '"')
    return {
        "separator": dialect.get("delimiter", "\t" if tabbed else ","),
        "quote_char": quote or None,
        "has_header": bool(dialect.get("header", True)),
        "encoding": resource.get("encoding", "utf-8"),
    }


def _schema_names(resource: dict[str, Any]) -> list[str]:
    schema = resource.get("schema")
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, list):
        return []
    return [str(f.get("name")) for f in fields if isinstance(f, dict) and f.get("name")]


def read_resource(resource: dict[str, Any], read_part: PartReader, name: str) -> pl.DataFrame:
    """Read a resource's table: inline data, or its parts concatenated in order.

    Args:
        resource: the resource descriptor.
        read_part: reads one part (a path relative to the package) and returns
            its display name and bytes.
        name: the package's name, used in error messages.

    Returns:
        An all-string frame. Without a header row the columns are named by the
        resource's schema fields.
    """
    if "data" in resource and "path" not in resource:
        inline = resource["data"]
        if not isinstance(inline, list):
            raise StepError(f"{name}: inline resource data must be a list")
        return records_to_frame(inline, f"{name} (inline data)")
    dialect = _dialect(resource, name)
    frames: list[pl.DataFrame] = []
    for number, part in enumerate(resource_parts(resource, name)):
        part_name, data = read_part(part)
        has_header = dialect["has_header"] and number == 0
        frame = read_delimited(data, part_name, **{**dialect, "has_header": has_header})
        if frames:
            if frame.width != frames[0].width:
                raise StepError(
                    f"{part_name}: {frame.width} columns where the first part has {frames[0].width}"
                )
            frame.columns = frames[0].columns
        elif not has_header:
            names = _schema_names(resource)
            if len(names) == frame.width:
                frame.columns = names
        frames.append(frame)
    return pl.concat(frames, how="vertical")
