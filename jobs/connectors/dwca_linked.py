"""A Darwin Core Archive as linked tables: the core's id carried into each extension.

Monitoring data is published on GBIF as an *event core* (one row per sampling event:
site, date, effort) with an occurrence extension (taxon, count) and often a
measurement-or-fact extension. meta.xml links an extension row to its core row by
``coreid``; this module gives that column the core id's own name (``eventID`` for an
event core, ``occurrenceID`` for an occurrence core) so a ``transform.join`` on it
needs no renaming, and names the tables by row type: ``event``, ``occurrence``,
``measurementorfact``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from jobs.connectors.darwin_core import term_name
from jobs.connectors.dwca import FileSpec, open_archive, read_file_spec
from jobs.steps.base import StepError
from portal.services.safezip import ZipLimits

#: The id term of a core of each row type (when meta.xml maps no field to the id column).
CORE_ID_TERMS = {"event": "eventID", "occurrence": "occurrenceID", "taxon": "taxonID"}


@dataclass
class LinkedArchive:
    """The tables of an archive.

    Attributes:
        core_type: the core's row type short name, e.g. ``event``.
        id_name: the core id's column name, present in the core and every extension.
        core: the core table.
        extensions: row type short name -> extension table.
        orphans: extension -> rows whose core id is not in the core (kept; a join
            reports them).
    """

    core_type: str
    id_name: str
    core: pl.DataFrame
    extensions: dict[str, pl.DataFrame]
    orphans: dict[str, int] = field(default_factory=dict)  # extension -> rows without core


def core_id_name(spec: FileSpec) -> str:
    """The name of the core's id column: the field at the id's index, else the row
    type's id term (``eventID``...), else ``id``."""
    for fld in spec.fields:
        if spec.id_index is not None and fld.index == spec.id_index:
            return fld.name
    return CORE_ID_TERMS.get(term_name(spec.row_type).lower(), "id")


def _with_core_id(core: pl.DataFrame, id_name: str) -> pl.DataFrame:
    if id_name in core.columns:
        return core
    if "id" not in core.columns:
        raise StepError(f"meta.xml: the core has no <id>: its rows cannot be linked to "
                        f"extensions (expected a column {id_name!r})")
    return core.rename({"id": id_name})


def _link(extension: pl.DataFrame, id_name: str, member: str) -> pl.DataFrame:
    """Give the extension the core id's column, filled from ``coreid``."""
    if "coreid" not in extension.columns:
        raise StepError(f"meta.xml: extension {member!r} has no <coreid>: its rows cannot "
                        "be linked to the core")
    if id_name not in extension.columns:
        return extension.with_columns(pl.col("coreid").alias(id_name)).drop("coreid")
    differ = extension.filter(pl.col(id_name).is_not_null()
                              & (pl.col(id_name) != pl.col("coreid")))
    if differ.height:
        raise StepError(f"{member}: {differ.height} row(s) have an {id_name} that differs "
                        f"from their coreid (e.g. {differ.row(0, named=True)[id_name]!r})")
    return extension.with_columns(pl.col(id_name).fill_null(pl.col("coreid"))).drop("coreid")


def archive_core_type(data: bytes, name: str, limits: ZipLimits | None = None) -> str:
    """The core's row type short name (``event``, ``occurrence``...), from meta.xml only."""
    _, _, core_spec, _ = open_archive(data, name, limits)
    return term_name(core_spec.row_type).lower()


def read_linked_dwca(data: bytes, name: str, with_extensions: bool = True,
                     limits: ZipLimits | None = None) -> LinkedArchive:
    """Read a Darwin Core Archive with its extensions linked to the core by the core id.

    Args:
        data: the zip's bytes.
        name: the archive's name, used in error messages.
        with_extensions: also read the extension files.
        limits: what the zip may contain.

    Returns:
        The core, the extensions by row type, the id column they share, and how many
        rows of each extension name a core id the core lacks.
    """
    archive, base, core_spec, extension_specs = open_archive(data, name, limits)
    id_name = core_id_name(core_spec)
    core = _with_core_id(read_file_spec(archive, base, core_spec), id_name)
    extensions: dict[str, pl.DataFrame] = {}
    orphans: dict[str, int] = {}
    for spec in extension_specs if with_extensions else []:
        table = _link(read_file_spec(archive, base, spec), id_name, spec.location)
        if spec.table_suffix in extensions:
            raise StepError(f"meta.xml: two extensions of row type {spec.table_suffix!r}")
        extensions[spec.table_suffix] = table
        orphans[spec.table_suffix] = table.join(core.select(id_name), on=id_name,
                                                how="anti").height
    return LinkedArchive(term_name(core_spec.row_type).lower() or "core", id_name, core,
                         extensions, {name: n for name, n in orphans.items() if n})
