"""Darwin Core Archives: a zip with ``meta.xml`` describing a core file and extensions.

The archive is read in memory and never extracted, so a member named ``../evil``
cannot land anywhere; such a member still makes the whole archive suspect and it
is refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import polars as pl

from jobs.connectors.darwin_core import term_name
from jobs.connectors.delimited import read_delimited, unescape
from jobs.connectors.zipped import ZipReader
from jobs.steps.base import StepError
from portal.services.safezip import ZipLimits


@dataclass(frozen=True)
class FieldSpec:
    """One ``<field>`` of meta.xml: a column index (or None) and/or a default value."""

    name: str
    index: int | None
    default: str | None


@dataclass
class FileSpec:
    """One ``<core>`` or ``<extension>`` of meta.xml."""

    row_type: str
    location: str
    separator: str = ","
    eol: str = "\n"
    quote_char: str | None = '"'
    header_lines: int = 0
    encoding: str = "UTF-8"
    id_index: int | None = None
    id_name: str = "id"
    fields: list[FieldSpec] = field(default_factory=list)

    @property
    def table_suffix(self) -> str:
        """The extension's short name, e.g. ``measurementorfact``."""
        return term_name(self.row_type).lower() or "extension"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _int(value: str | None, what: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise StepError(f"meta.xml: {what} {value!r} is not a whole number") from None


def _file_spec(element: ET.Element, kind: str) -> FileSpec:
    locations = [
        (loc.text or "").strip()
        for files in _children(element, "files")
        for loc in _children(files, "location")
    ]
    if not locations or not locations[0]:
        raise StepError(f"meta.xml: the <{kind}> has no <files><location>")
    attrs = element.attrib
    quote = unescape(attrs.get("fieldsEnclosedBy", '"'))
    spec = FileSpec(
        row_type=attrs.get("rowType", kind),
        location=locations[0],
        separator=unescape(attrs.get("fieldsTerminatedBy", ",")),
        eol=unescape(attrs.get("linesTerminatedBy", "\n")),
        quote_char=quote or None,
        header_lines=_int(attrs.get("ignoreHeaderLines"), "ignoreHeaderLines") or 0,
        encoding=attrs.get("encoding", "UTF-8"),
        id_name="id" if kind == "core" else "coreid",
    )
    for id_tag in ("id", "coreid"):
        for id_element in _children(element, id_tag):
            spec.id_index = _int(id_element.get("index"), f"<{id_tag}> index")
    for field_element in _children(element, "field"):
        term = field_element.get("term")
        if not term:
            raise StepError(f"meta.xml: a <field> of the <{kind}> has no term")
        index = _int(field_element.get("index"), f"index of {term}")
        default = field_element.get("default")
        if index is None and default is None:
            raise StepError(f"meta.xml: field {term} has neither an index nor a default")
        spec.fields.append(FieldSpec(term_name(term), index, default))
    if len(spec.separator.encode()) != 1:
        raise StepError(f"meta.xml: fieldsTerminatedBy {spec.separator!r} must be one character")
    return spec


def parse_meta(xml: bytes) -> tuple[FileSpec, list[FileSpec]]:
    """Parse meta.xml into the core's and the extensions' file descriptions."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise StepError("meta.xml: document type declarations are refused")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise StepError(f"meta.xml is not well-formed XML: {exc}") from None
    cores = _children(root, "core")
    if _local(root.tag) != "archive" or len(cores) != 1:
        raise StepError("meta.xml: expected an <archive> with exactly one <core>")
    extensions = [_file_spec(ext, "extension") for ext in _children(root, "extension")]
    return _file_spec(cores[0], "core"), extensions


def read_file_spec(archive: ZipReader, base: str, spec: FileSpec) -> pl.DataFrame:
    """Read one data file of the archive and give its columns their term names.

    Args:
        archive: the opened archive.
        base: the folder of meta.xml inside the archive ("" at the root).
        spec: the file's description from meta.xml.

    Returns:
        A string frame with the id column, each indexed field, and each default-only
        field as a constant column; empty cells of a field with a default take it.
    """
    member = f"{base}{spec.location}"
    raw = read_delimited(
        archive.read(member, "(named by meta.xml)"),
        member,
        separator=spec.separator,
        quote_char=spec.quote_char,
        has_header=False,
        skip_rows=spec.header_lines,
        encoding=spec.encoding,
        eol="\n" if spec.eol == "\r\n" else spec.eol,
    )
    columns: list[pl.Expr] = []
    names: set[str] = set()
    indexed = {f.index for f in spec.fields}
    if spec.id_index is not None and (spec.id_name == "coreid" or spec.id_index not in indexed):
        columns.append(_column(raw, spec.id_index, spec.id_name, member))
        names.add(spec.id_name)
    for fld in spec.fields:
        if fld.name in names:
            raise StepError(f"meta.xml: two fields of {spec.location!r} map to {fld.name!r}")
        names.add(fld.name)
        if fld.index is None:
            columns.append(pl.lit(fld.default, dtype=pl.String).alias(fld.name))
            continue
        column = _column(raw, fld.index, fld.name, member)
        columns.append(column.fill_null(fld.default) if fld.default is not None else column)
    return raw.select(columns)


def _column(raw: pl.DataFrame, index: int, name: str, member: str) -> pl.Expr:
    if not 0 <= index < raw.width:
        raise StepError(
            f"meta.xml: {name} is at index {index} but {member!r} has {raw.width} column(s)"
        )
    return pl.col(raw.columns[index]).alias(name)


def open_archive(data: bytes, name: str, limits: ZipLimits | None = None
                 ) -> tuple[ZipReader, str, FileSpec, list[FileSpec]]:
    """Open a Darwin Core Archive's zip and parse its ``meta.xml``.

    Args:
        data: the zip's bytes.
        name: the archive's name, used in error messages.
        limits: what the zip may contain (``ctx.zip_limits``); defaults when None.

    Returns:
        The zip, the folder of ``meta.xml`` inside it (the files' base), the core's
        file spec and the extensions' file specs.

    Raises:
        StepError: the zip holds no ``meta.xml``.
    """
    archive = ZipReader(data, name, limits)
    meta_member = archive.find("meta.xml")
    if meta_member is None:
        raise StepError(f"{name}: no meta.xml in the archive: not a Darwin Core Archive")
    core_spec, extension_specs = parse_meta(archive.read(meta_member))
    return archive, meta_member[: -len("meta.xml")], core_spec, extension_specs


def read_dwca(
    data: bytes, name: str, with_extensions: bool = True, limits: ZipLimits | None = None
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Read a Darwin Core Archive.

    Args:
        data: the zip's bytes.
        name: the archive's name, used in error messages.
        with_extensions: also read the extension files.
        limits: what the zip may contain (``ctx.zip_limits``); defaults when None.

    Returns:
        The core table and a dict of extension tables keyed by their row type's
        short name (``measurementorfact``, ``multimedia``...).
    """
    archive, base, core_spec, extension_specs = open_archive(data, name, limits)
    core = read_file_spec(archive, base, core_spec)
    extensions: dict[str, pl.DataFrame] = {}
    if with_extensions:
        for spec in extension_specs:
            extensions[spec.table_suffix] = read_file_spec(archive, base, spec)
    return core, extensions
