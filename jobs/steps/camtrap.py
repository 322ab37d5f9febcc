"""``ingest.camtrap_dp``: a Camera Trap Data Package as three linked tables in one step.

Camtrap DP (TDWG, https://camtrap-dp.tdwg.org) is a Frictionless data package with
the resources ``deployments`` (where and when a camera ran), ``media`` (the images
and videos) and ``observations`` (what was seen, per image or per event). This step
reads all three (media when present) from a ``datapackage.json`` or a zip, names the
tables ``deployments``, ``media`` and ``observations`` (with ``params.prefix``:
``<prefix>_deployments``…), and adds to the observations the ``taxonRank`` of each
``scientificName`` from the package's ``taxonomic`` list, so that a filter can keep
observations at species rank. Declared in ``camtrap.json``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import polars as pl

from jobs.connectors.frictionless import parse_descriptor, pick_resource, read_resource
from jobs.connectors.sources import RawInput, lineage_entry, read_data_file
from jobs.licences import package_licence, record_input_licence
from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult, frame_fingerprint
from jobs.steps.data_package import open_zipped_package

RESOURCES = ("deployments", "media", "observations")
REQUIRED = ("deployments", "observations")


def taxon_ranks(descriptor: dict[str, Any]) -> pl.DataFrame:
    """``scientificName -> taxonRank`` from the package's ``taxonomic`` list."""
    taxa = descriptor.get("taxonomic") if isinstance(descriptor.get("taxonomic"), list) else []
    pairs = {str(t["scientificName"]): str(t.get("taxonRank") or "") or None
             for t in taxa if isinstance(t, dict) and t.get("scientificName")}
    return pl.DataFrame({"scientificName": list(pairs), "taxonRank": list(pairs.values())},
                        schema={"scientificName": pl.String, "taxonRank": pl.String})


def _with_ranks(observations: pl.DataFrame, ranks: pl.DataFrame) -> pl.DataFrame:
    if "scientificName" not in observations.columns or "taxonRank" in observations.columns:
        return observations
    return observations.join(ranks, on="scientificName", how="left", maintain_order="left")


@register("ingest.camtrap_dp")
def ingest_camtrap_dp(ctx: StepContext) -> StepResult:
    """Read deployments, media and observations of a Camtrap DP package.

    Returns:
        A StepResult whose tables are the three resources; every file read is an
        input of the run's lineage.
    """
    source = ctx.params["source"]
    # (input, the table it became): a zip is one input; a folder package one per file.
    inputs: list[tuple[RawInput, str | None]] = []
    reading: dict[str, str | None] = {"table": None}
    if source.lower().endswith(".zip"):
        package = open_zipped_package(ctx, source, "a Camtrap DP")
        descriptor, read_part = package.descriptor, package.read_part
        inputs.append((package.raw, None))
    else:
        descriptor_raw = read_data_file(ctx, source)
        descriptor = parse_descriptor(descriptor_raw.data, descriptor_raw.uri)
        inputs.append((descriptor_raw, None))
        folder = PurePosixPath(descriptor_raw.uri).parent

        def read_part(part: str) -> tuple[str, bytes]:
            part_raw = read_data_file(ctx, str(folder / part), "resource path")
            inputs.append((part_raw, reading["table"]))
            return part_raw.uri, part_raw.data

    names = {str(r.get("name")) for r in descriptor["resources"] if isinstance(r, dict)}
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise StepError(f"{source}: not a Camtrap DP package: no resource named "
                        f"{' or '.join(missing)} (resources: {', '.join(sorted(names))})")
    prefix = ctx.params.get("prefix")
    tables: dict[str, pl.DataFrame] = {}
    for resource_name in (name for name in RESOURCES if name in names):
        reading["table"] = table = f"{prefix}_{resource_name}" if prefix else resource_name
        resource = pick_resource(descriptor, resource_name, source)
        frame = read_resource(resource, read_part, source)
        if resource_name == "observations":
            frame = _with_ranks(frame, taxon_ranks(descriptor))
        tables[table] = frame
    return _finish(ctx, source, descriptor, inputs, tables)


def _finish(ctx: StepContext, source: str, descriptor: dict[str, Any],
            inputs: list[tuple[RawInput, str | None]], tables: dict[str, pl.DataFrame]
            ) -> StepResult:
    parts: dict[str, int] = {}
    for _, table in inputs:
        if table:
            parts[table] = parts.get(table, 0) + 1
    for raw, table in inputs:
        # A table read from one file is that file's rows; parts of a table get no rows.
        frame = tables.get(table) if table and parts[table] == 1 else None
        lineage_entry(ctx, raw, frame, table=table)
    observations = next(name for name in tables if name.endswith("observations"))
    if ctx.primary_table is None:
        ctx.primary_table = observations
    for name, frame in tables.items():
        ctx.log(f"{name}: {frame.height} rows x {frame.width} columns")
    main = inputs[0][0]
    record_input_licence(ctx, source, package_licence(descriptor))
    rows = sum(frame.height for frame in tables.values())
    return StepResult(
        rows_in=rows,
        rows_out=rows,
        details={"uri": source, "tables": {name: frame.height for name, frame in tables.items()},
                 "profile": descriptor.get("profile"),
                 "license": package_license(descriptor)},
        tables=tables,
        input_fingerprint=main.sha256,
        output_fingerprint=frame_fingerprint(tables[observations]),
    )


def package_license(descriptor: dict[str, Any]) -> str | None:
    """The package's first licence (its SPDX name or path), if it declares one."""
    licenses = descriptor.get("licenses")
    if isinstance(licenses, list):
        for entry in licenses:
            if isinstance(entry, dict) and (entry.get("name") or entry.get("path")):
                return str(entry.get("name") or entry.get("path"))
    return None
