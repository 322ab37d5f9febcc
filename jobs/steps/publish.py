"""The ``publish.release`` step: computed tables become a versioned Frictionless package.

What is published: ``params.tables`` when given, otherwise every table that an earlier
compute step recorded in ``ctx.lineage["outputs"]`` (ingested tables are never
published by default). Each table becomes ``<name>.csv``; ``datapackage.json``
describes them (schema, bytes, sha256 hash, rows) and ``lineage.json`` holds the
lineage so far. The index tables of ``compute.trim`` and ``compute.msi`` also get one
SVG chart per series (``jobs.release_charts``). See ``jobs.releases`` for versioning
and the atomic commit. The release's licence is the step's ``license``, the programme's,
or the one its inputs declare; with none the step fails and nothing is written
(``jobs.licences``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

from jobs.candidate import stage_candidate
from jobs.licences import licences_entry, release_licence
from jobs.lineage import canonical_sha256
from jobs.registry import register
from jobs.release_charts import add_chart_files
from jobs.releases import ReleaseError, commit_release, planned_version, programme_dir
from jobs.steps.base import StepContext, StepError, StepResult, sha256_bytes
from portal.services.candidates import CANDIDATE_VERSION


def field_type(dtype: pl.DataType) -> str:
    """The Table Schema type of a polars dtype."""
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "number"
    simple = {pl.Boolean: "boolean", pl.Date: "date", pl.Time: "time", pl.String: "string"}
    for polars_type, name in simple.items():
        if dtype == polars_type:
            return name
    return "datetime" if isinstance(dtype, pl.Datetime) else "any"


def resource_name(table: str) -> str:
    """A Frictionless resource (and file) name for a table name."""
    name = re.sub(r"[^a-z0-9._-]+", "-", table.lower()).strip("-.")
    return name or "table"


def tables_to_publish(ctx: StepContext) -> list[str]:
    """``params.tables``, or the compute outputs recorded in the lineage (first seen first)."""
    names = ctx.params.get("tables")
    if not names:
        names = [entry["table"] for entry in ctx.lineage.get("outputs", []) if entry.get("table")]
    names = list(dict.fromkeys(names))
    missing = [name for name in names if name not in ctx.tables]
    if missing:
        raise StepError(f"cannot publish missing tables: {', '.join(missing)}")
    if not names:
        raise StepError("nothing to publish: no compute step produced a table")
    return names


def _datapackage(ctx: StepContext, version: str, resources: list[dict[str, Any]],
                 licence: str) -> dict[str, Any]:
    # A package read by several ingest steps (one per resource) is one source.
    uris = dict.fromkeys(str(entry["uri"]) for entry in ctx.lineage.get("inputs", [])
                         if entry.get("uri"))
    sources = [{"title": uri, "path": uri} for uri in uris]
    return {
        # A release with charts (SVG resources) is a data package, not a tabular one.
        "profile": "tabular-data-package"
        if all(r.get("profile") == "tabular-data-resource" for r in resources)
        else "data-package",
        "name": ctx.params.get("name") or resource_name(ctx.programme_code),
        "title": f"{ctx.programme_code} {ctx.params.get('name', 'release')} {version}",
        "version": version,
        "created": ctx.now.isoformat(),
        "licenses": licences_entry(licence),
        "sources": sources,
        "resources": resources,
    }


def _json_bytes(document: Any) -> bytes:
    return (
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    ).encode()


@register("publish.release")
def publish_release(ctx: StepContext) -> StepResult:
    """Publish the computed tables as ``publish_root/<code>/<version>/``.

    Unchanged CSV bytes publish nothing; a dry run computes the version it would take
    and writes nothing. The release is recorded in ``ctx.lineage["release"]``.
    """
    names = tables_to_publish(ctx)
    licence, licence_from = release_licence(ctx)  # refuses before anything is written
    data: dict[str, bytes] = {}
    resources: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for table in names:
        frame = ctx.tables[table]
        path = f"{resource_name(table)}.csv"
        if path in data:
            raise StepError(f"two tables would both be published as {path}")
        data[path] = frame.write_csv().encode()
        digest = sha256_bytes(data[path])
        fields = [{"name": name, "type": field_type(dtype)} for name, dtype in frame.schema.items()]
        resources.append(
            {
                "name": resource_name(table),
                "path": path,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {"fields": fields},
                "bytes": len(data[path]),
                "hash": f"sha256:{digest}",
                "rows": frame.height,
            }
        )
        files.append(
            {
                "path": path,
                "table": table,
                "sha256": digest,
                "bytes": len(data[path]),
                "rows": frame.height,
            }
        )
    add_chart_files(ctx, names, data, resources, files)  # one SVG per charted index series
    rows = sum(entry["rows"] for entry in files)
    manifest = canonical_sha256({entry["path"]: entry["sha256"] for entry in files})
    bump = ctx.params.get("bump", "minor")
    try:
        base = programme_dir(ctx.publish_root, ctx.programme_code)
    except ReleaseError as exc:
        raise StepError(str(exc)) from exc

    if ctx.dry_run:
        would = planned_version(base, data, bump)
        ctx.log(f"dry run: would publish {would}" if would else "dry run: unchanged")
        return StepResult(
            rows_in=rows,
            details={
                "dry_run": True,
                "would_publish_version": would,
                "unchanged": would is None,
                "files": files,
                "licence": licence,
                "licence_from": licence_from,
            },
            output_fingerprint=manifest,
        )

    def metadata(version: str) -> dict[str, bytes]:
        release = {"version": version, "path": f"{base.name}/{version}", "files": files}
        lineage = {
            "run_uuid": ctx.run_uuid,
            "programme_code": ctx.programme_code,
            **ctx.lineage,
            "release": release,
        }
        return {
            "datapackage.json": _json_bytes(_datapackage(ctx, version, resources, licence)),
            "lineage.json": _json_bytes(lineage),
        }

    if ctx.review_required and planned_version(base, data, bump):  # the sign-off gate
        return stage_candidate(ctx, base, data, metadata(CANDIDATE_VERSION), files, bump,
                               manifest)
    try:
        version, published = commit_release(base, data, metadata, bump)
    except (OSError, ReleaseError) as exc:
        raise StepError(f"cannot write the release: {exc}") from exc
    ctx.lineage["release"] = {
        "version": version,
        "path": f"{base.name}/{version}",
        "files": files,
        "unchanged": not published,
        "licence": licence,
        "licence_from": licence_from,
    }
    if not published:
        ctx.log("unchanged")
        return StepResult(
            rows_in=rows,
            details={"unchanged": True, "version": version},
            output_fingerprint=manifest,
        )
    ctx.log(f"published {base.name}/{version}: {len(files)} files, {rows} rows, "
            f"licence {licence} (the {licence_from}'s)")
    return StepResult(
        rows_in=rows,
        rows_out=rows,
        details={"version": version, "path": f"{base.name}/{version}", "files": files,
                 "licence": licence, "licence_from": licence_from},
        output_fingerprint=manifest,
    )
