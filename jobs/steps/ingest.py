"""The ``ingest.*`` steps: read a source into ``ctx.tables`` and record it in lineage.

Every ingest reads all columns as strings, applies ``params["mapping"]``, names its
table ``params["as"]`` (default ``"data"``), appends each input it read to
``ctx.lineage["inputs"]`` ({uri, sha256, bytes, rows, columns, step}) and copies the
raw bytes into the content-addressed store so that a replay reads the same bytes
(``ctx.replay_inputs`` maps a URI to the recorded copy). A delimited file is copied
in chunks and parsed from its recorded copy: its bytes are never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import polars as pl

from jobs.connectors.darwin_core import check_darwin_core, normalise_header
from jobs.connectors.delimited import read_delimited, scan_delimited, separator_for
from jobs.connectors.dwca import read_dwca
from jobs.connectors.dwca_linked import archive_core_type, read_linked_dwca
from jobs.connectors.frictionless import (
    parse_descriptor,
    pick_resource,
    read_resource,
)
from jobs.connectors.http import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    HttpRequest,
    fetch,
)
from jobs.connectors.mapping import apply_mapping
from jobs.connectors.records import dig, records_to_frame
from jobs.connectors.sources import (
    RawInput,
    lineage_entry,
    read_data_file,
    read_replay_copy,
    remember,
)
from jobs.licences import dwca_licence, package_licence, record_input_licence
from jobs.registry import register
from jobs.steps.base import (
    StepContext,
    StepError,
    StepResult,
    fold_fingerprint,
    frame_fingerprint,
)
from jobs.steps.data_package import open_zipped_package
from portal.credentials import Credential, CredentialError

DEFAULT_TABLE = "data"


#: Rows per batch when a lazy table is read through (fingerprint, validation).
LAZY_BATCH_ROWS = 1_000_000


def finish_ingest(
    ctx: StepContext,
    frame: pl.DataFrame | pl.LazyFrame,
    main: RawInput,
    *,
    other_inputs: tuple[RawInput, ...] = (),
    later_inputs: tuple[RawInput, ...] = (),
    extra_tables: dict[str, pl.DataFrame] | None = None,
    details: dict[str, Any] | None = None,
) -> StepResult:
    """Apply the mapping, record lineage and build the ingest's StepResult.

    Args:
        ctx: the step context.
        frame: the table read from the source; a LazyFrame (``params.lazy``) is read
            through once here, in batches, for its height and fingerprint.
        main: the input the table came from (its URI and hash go in ``details``).
        other_inputs: inputs read before the table (a package descriptor); recorded
            without rows.
        later_inputs: further parts of the same table; recorded without rows.
        extra_tables: tables produced besides the main one (archive extensions).
        details: extra facts for the run page.
    """
    frame = apply_mapping(frame, ctx.params.get("mapping"))
    name = ctx.params.get("as") or DEFAULT_TABLE
    if isinstance(frame, pl.LazyFrame):
        height, fingerprint = lazy_facts(frame, main.uri)
    else:
        height, fingerprint = frame.height, frame_fingerprint(frame)
    columns = (frame.collect_schema().names() if isinstance(frame, pl.LazyFrame)
               else list(frame.columns))
    for other in other_inputs:
        lineage_entry(ctx, other)
    lineage_entry(ctx, main, frame, table=name, rows=height)
    for later in later_inputs:
        lineage_entry(ctx, later)
    if ctx.primary_table is None:
        ctx.primary_table = name
    ctx.log(
        f"read {height} rows x {len(columns)} columns from {main.uri} "
        f"({main.size} bytes, sha256 {main.sha256[:12]})"
    )
    return StepResult(
        rows_in=height,
        rows_out=height,
        details={
            "uri": main.uri,
            "bytes": main.size,
            "sha256": main.sha256,
            "rows": height,
            "columns": columns,
            **(details or {}),
        },
        tables={name: frame, **(extra_tables or {})},
        input_fingerprint=main.sha256,
        output_fingerprint=fingerprint,
    )


def lazy_facts(frame: pl.LazyFrame, uri: str) -> tuple[int, str]:
    """Read a lazy table through once, in batches: its height and fingerprint."""
    height = 0

    def batches() -> Iterator[pl.DataFrame]:
        nonlocal height
        for batch in frame.collect_batches(chunk_size=LAZY_BATCH_ROWS):
            height += batch.height
            yield batch

    try:
        fingerprint = fold_fingerprint(frame.collect_schema(), batches())
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise StepError(f"{uri}: cannot be parsed as delimited text: {first_line}") from None
    return height, fingerprint


@register("ingest.csv")
def ingest_csv(ctx: StepContext) -> StepResult:
    """Read a CSV or TSV file under DATA_ROOT (tab for .tsv/.tab/.txt unless ``delimiter``).

    With ``params.lazy`` the table stays lazy (a plan over the recorded copy): memory is
    bounded whatever the file's size, and ``validate.rules`` checks it in batches. Steps
    that need the whole table in memory (transforms, indicators) do not accept it.
    """
    raw = read_data_file(ctx, ctx.params["source"])
    separator = separator_for(raw.uri, ctx.params.get("delimiter"))
    if ctx.params.get("lazy"):
        return finish_ingest(ctx, scan_delimited(raw.path, raw.uri, separator=separator), raw)
    return finish_ingest(ctx, read_delimited(raw.path, raw.uri, separator=separator), raw)


@register("ingest.darwin_core")
def ingest_darwin_core(ctx: StepContext) -> StepResult:
    """Read a Darwin Core occurrence CSV; term URIs in the header become term names."""
    raw = read_data_file(ctx, ctx.params["source"])
    if raw.head(4) == b"PK\x03\x04":
        raise StepError(f"{raw.uri} is a zip archive, not a CSV: use ingest.dwca for a "
                        "Darwin Core Archive (a zip with meta.xml) or ingest.frictionless "
                        "for a data package (a zip with datapackage.json)")
    frame = read_delimited(raw.path, raw.uri, separator=separator_for(raw.uri))
    frame = normalise_header(frame, raw.uri)
    extra = check_darwin_core(frame, raw.uri)
    if extra:
        ctx.log(f"kept columns that are not Darwin Core terms: {', '.join(extra)}")
    return finish_ingest(ctx, frame, raw, details={"non_darwin_core_columns": extra})


@register("ingest.dwca")
def ingest_dwca(ctx: StepContext) -> StepResult:
    """Read a Darwin Core Archive: the core table, and each extension as ``<as>_<rowtype>``
    — or, linked (the default for an event core), as tables named by row type that
    share the core id column (``jobs.connectors.dwca_linked``)."""
    raw = read_data_file(ctx, ctx.params["source"])
    record_input_licence(ctx, raw.uri, dwca_licence(raw.data, raw.uri, ctx.zip_limits))
    linked = ingest_linked_dwca(ctx, raw)
    if linked is not None:
        return linked
    core, extensions = read_dwca(raw.data, raw.uri, ctx.params.get("extensions", True),
                                 ctx.zip_limits)
    name = ctx.params.get("as") or DEFAULT_TABLE
    extra = {f"{name}_{suffix}": frame for suffix, frame in extensions.items()}
    for table, frame in extra.items():
        ctx.log(f"extension table {table}: {frame.height} rows")
    return finish_ingest(
        ctx,
        core,
        raw,
        extra_tables=extra,
        details={"extensions": {table: frame.height for table, frame in extra.items()}},
    )


def ingest_linked_dwca(ctx: StepContext, raw: RawInput) -> StepResult | None:
    """The linked reading of an archive, or None when ``params.linked`` says otherwise
    (default: linked for an event core, as before for any other core)."""
    linked = ctx.params.get("linked")
    if linked is None:
        linked = archive_core_type(raw.data, raw.uri, ctx.zip_limits) == "event"
    if not linked:
        return None
    archive = read_linked_dwca(raw.data, raw.uri, ctx.params.get("extensions", True),
                               ctx.zip_limits)
    if not ctx.params.get("as"):
        ctx.params = {**ctx.params, "as": archive.core_type}
    for table, frame in archive.extensions.items():
        ctx.log(f"extension table {table}: {frame.height} rows, linked by {archive.id_name}")
    for table, rows in archive.orphans.items():
        ctx.log(f"{rows} row(s) of {table} name an {archive.id_name} missing from the core")
    return finish_ingest(
        ctx, archive.core, raw, extra_tables=archive.extensions,
        details={"core": archive.core_type, "linked_by": archive.id_name,
                 "extensions": {table: frame.height
                                for table, frame in archive.extensions.items()},
                 "orphans": archive.orphans})


@register("ingest.frictionless")
def ingest_frictionless(ctx: StepContext) -> StepResult:
    """Read one resource of a Frictionless data package (a datapackage.json or a zip)."""
    source = ctx.params["source"]
    wanted = ctx.params.get("resource")
    if source.lower().endswith(".zip"):
        package = open_zipped_package(ctx, source, "a data package")
        raw = package.raw
        record_input_licence(ctx, raw.uri, package_licence(package.descriptor))
        resource = pick_resource(package.descriptor, wanted, raw.uri)
        frame = read_resource(resource, package.read_part, raw.uri)
        return finish_ingest(ctx, frame, raw, details={"resource": resource.get("name")})

    descriptor_raw = read_data_file(ctx, source)
    descriptor = parse_descriptor(descriptor_raw.data, descriptor_raw.uri)
    record_input_licence(ctx, descriptor_raw.uri, package_licence(descriptor))
    resource = pick_resource(descriptor, wanted, descriptor_raw.uri)
    folder = PurePosixPath(descriptor_raw.uri).parent
    parts: list[RawInput] = []

    def read_part(part: str) -> tuple[str, bytes]:
        part_raw = read_data_file(ctx, str(folder / part), "resource path")
        parts.append(part_raw)
        return part_raw.uri, part_raw.data

    frame = read_resource(resource, read_part, descriptor_raw.uri)
    details = {"resource": resource.get("name")}
    if not parts:  # inline data: the descriptor is the table's source
        return finish_ingest(ctx, frame, descriptor_raw, details=details)
    return finish_ingest(
        ctx,
        frame,
        parts[0],
        other_inputs=(descriptor_raw,),
        later_inputs=tuple(parts[1:]),
        details=details,
    )


@register("ingest.http")
def ingest_http(ctx: StepContext) -> StepResult:
    """Fetch JSON records (at ``records_path``) or a CSV from an allow-listed HTTP(S) host."""
    params = ctx.params
    url = params["url"]
    as_csv = params.get("format", "json") == "csv"
    data = read_replay_copy(ctx, url)
    if data is not None:
        ctx.log(f"replay: read the recorded answer of {url}")
    else:
        credential, token = _credential(ctx, url)
        request = HttpRequest(
            url=url,
            allowlist=tuple(ctx.http_allowlist),
            credential=credential,
            token=token,
            timeout=float(params.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            max_bytes=int(params.get("max_bytes", DEFAULT_MAX_BYTES)),
            accept="text/csv" if as_csv else "application/json",
        )
        data = fetch(request, log=ctx.log)
    raw = remember(ctx, url, data)
    if as_csv:
        frame = read_delimited(data, url)
    else:
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StepError(f"{url}: the answer is not valid JSON: {exc}") from None
        frame = records_to_frame(dig(document, params.get("records_path"), url), url)
    return finish_ingest(ctx, frame, raw)


def _credential(ctx: StepContext, url: str) -> tuple[Credential | None, str | None]:
    """The credential ``params["credential"]`` names and its token (None, None: none).

    Checked again here, at run time: the credential must be declared on this worker,
    ``url`` must be one of its hosts, and its variable must hold a value.
    """
    name = ctx.params.get("credential")
    if not name:
        return None, None
    credential = ctx.credentials.get(name)
    if credential is None:
        declared = ", ".join(sorted(ctx.credentials)) or "none"
        raise StepError(f"unknown credential {name!r}; declared: {declared}")
    if not credential.allows(url):
        raise StepError(f"credential {name!r} may be sent only to {credential.hosts_text()}, "
                        f"not to {url}")
    try:
        return credential, credential.token()
    except CredentialError as error:
        raise StepError(str(error)) from None
