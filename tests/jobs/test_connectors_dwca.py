"""Darwin Core Archives built in the test from the snail occurrences: good and broken ones."""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepError

DWC = "http://rs.tdwg.org/dwc/terms/"
# Columns of the snail table written into the archive's core file, in this order.
CORE_COLUMNS = [
    "occurrenceID",
    "scientificName",
    "eventDate",
    "decimalLatitude",
    "decimalLongitude",
    "organismQuantity",
    "organismQuantityType",
]


def meta_xml(core: str, extension: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        f"{core}{extension}</archive>\n"
    ).encode()


def core_element(attributes: str, fields: str, location: str = "occurrence.txt") -> str:
    return (
        f'<core rowType="{DWC}Occurrence" {attributes}>'
        f"<files><location>{location}</location></files>"
        f'<id index="0"/>{fields}</core>\n'
    )


def indexed_fields(columns: list[str]) -> str:
    return "".join(f'<field index="{i}" term="{DWC}{name}"/>' for i, name in enumerate(columns))


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def ingest_dwca(make_ctx, source: str, **params):
    ctx = make_ctx({"source": source, **params})
    return ctx, get_step("ingest.dwca")(ctx)


@pytest.fixture
def core_frame(snails: pl.DataFrame) -> pl.DataFrame:
    return snails.select(CORE_COLUMNS)


def test_archive_with_header_tabs_and_an_extension(make_ctx, data_root, core_frame):
    tsv = core_frame.write_csv(separator="\t", quote_style="never").encode()
    measurements = b"coreid\ttype\tvalue\nWL:SNAIL:GC:OCC:00000\tshell width\t12\n"
    extension = (
        f'<extension rowType="http://rs.iobis.org/obis/terms/ExtendedMeasurementOrFact" '
        'fieldsTerminatedBy="\\t" ignoreHeaderLines="1" fieldsEnclosedBy="">'
        "<files><location>extendedmeasurementorfact.txt</location></files>"
        '<coreid index="0"/>'
        f'<field index="1" term="{DWC}measurementType"/>'
        f'<field index="2" term="{DWC}measurementValue"/></extension>\n'
    )
    core = core_element(
        'fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" '
        'ignoreHeaderLines="1" encoding="UTF-8"',
        indexed_fields(CORE_COLUMNS),
    )
    write_zip(
        data_root / "snails.zip",
        {
            "meta.xml": meta_xml(core, extension),
            "occurrence.txt": tsv,
            "extendedmeasurementorfact.txt": measurements,
        },
    )

    ctx, result = ingest_dwca(make_ctx, "snails.zip", **{"as": "occ"})

    assert result.tables["occ"].equals(core_frame)
    ext = result.tables["occ_extendedmeasurementorfact"]
    assert ext.to_dicts() == [
        {
            "coreid": "WL:SNAIL:GC:OCC:00000",
            "measurementType": "shell width",
            "measurementValue": "12",
        }
    ]
    assert result.details["extensions"] == {"occ_extendedmeasurementorfact": 1}
    assert ctx.lineage["inputs"][0]["uri"] == "snails.zip"
    assert ctx.lineage["inputs"][0]["rows"] == 389


def test_extensions_can_be_skipped(make_ctx, data_root, core_frame):
    core = core_element('ignoreHeaderLines="1"', indexed_fields(CORE_COLUMNS))
    write_zip(
        data_root / "a.zip",
        {"meta.xml": meta_xml(core), "occurrence.txt": core_frame.write_csv().encode()},
    )
    _, result = ingest_dwca(make_ctx, "a.zip", extensions=False)
    assert list(result.tables) == ["data"]


def test_archive_without_header_row_and_with_default_values(make_ctx, data_root, core_frame):
    body = core_frame.write_csv(include_header=False).encode()  # comma, quoted when needed
    fields = indexed_fields(CORE_COLUMNS[:6])
    fields += f'<field index="6" term="{DWC}organismQuantityType" default="individuals"/>'
    fields += f'<field term="{DWC}countryCode" default="ES"/>'
    core = core_element('fieldsTerminatedBy="," fieldsEnclosedBy="&quot;"', fields)
    write_zip(data_root / "noheader.zip", {"meta.xml": meta_xml(core), "occurrence.txt": body})

    _, result = ingest_dwca(make_ctx, "noheader.zip")
    frame = result.tables["data"]

    assert frame.height == 389  # the first data row was not taken for a header
    assert frame.row(0, named=True)["occurrenceID"] == "WL:SNAIL:GC:OCC:00000"
    assert frame.get_column("countryCode").unique().to_list() == ["ES"]
    # Empty cells of a field with a default take the default; filled cells keep theirs.
    quantity_type = frame.get_column("organismQuantityType")
    assert quantity_type.null_count() == 0
    original = core_frame.get_column("organismQuantityType")
    assert original.null_count() == 40
    assert quantity_type.to_list() == original.fill_null("individuals").to_list()


def test_meta_xml_in_a_top_level_folder(make_ctx, data_root, core_frame):
    core = core_element('ignoreHeaderLines="1"', indexed_fields(CORE_COLUMNS))
    write_zip(
        data_root / "nested.zip",
        {
            "export/meta.xml": meta_xml(core),
            "export/occurrence.txt": core_frame.write_csv().encode(),
        },
    )
    _, result = ingest_dwca(make_ctx, "nested.zip")
    assert result.rows_out == 389


def test_a_member_escaping_the_archive_is_refused(make_ctx, data_root, core_frame):
    core = core_element('ignoreHeaderLines="1"', indexed_fields(CORE_COLUMNS))
    write_zip(
        data_root / "evil.zip",
        {
            "meta.xml": meta_xml(core),
            "occurrence.txt": core_frame.write_csv().encode(),
            "../evil": b"overwrite me",
        },
    )
    with pytest.raises(StepError, match=r"unsafe member name '\.\./evil'"):
        ingest_dwca(make_ctx, "evil.zip")
    assert not (data_root / "evil").exists()


def test_a_truncated_archive_is_refused(make_ctx, data_root, core_frame):
    core = core_element('ignoreHeaderLines="1"', indexed_fields(CORE_COLUMNS))
    whole = write_zip(
        data_root / "whole.zip",
        {"meta.xml": meta_xml(core), "occurrence.txt": core_frame.write_csv().encode()},
    ).read_bytes()
    (data_root / "cut.zip").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(StepError, match="not a readable zip archive"):
        ingest_dwca(make_ctx, "cut.zip")


def test_a_file_that_is_not_a_zip_is_refused(make_ctx, data_root):
    (data_root / "fake.zip").write_text("occurrenceID\n1\n")
    with pytest.raises(StepError, match="not a readable zip archive"):
        ingest_dwca(make_ctx, "fake.zip")


def test_an_archive_without_meta_xml_is_refused(make_ctx, data_root, core_frame):
    write_zip(data_root / "bare.zip", {"occurrence.txt": core_frame.write_csv().encode()})
    with pytest.raises(StepError, match="no meta.xml in the archive"):
        ingest_dwca(make_ctx, "bare.zip")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (b"<archive><core>", "meta.xml is not well-formed XML"),
        (
            meta_xml(core_element("", indexed_fields(CORE_COLUMNS), location="missing.txt")),
            r"'missing.txt' \(named by meta.xml\) is not in the archive",
        ),
        (
            meta_xml(core_element("", f'<field index="40" term="{DWC}year"/>')),
            "year is at index 40 but 'occurrence.txt' has 7 column",
        ),
        (
            meta_xml(core_element("", f'<field term="{DWC}year"/>')),
            "field .*terms/year has neither an index nor a default",
        ),
        (
            b'<!DOCTYPE a [<!ENTITY x "y">]><archive/>',
            "document type declarations are refused",
        ),
    ],
)
def test_a_bad_meta_xml_is_a_clear_error(make_ctx, data_root, core_frame, meta, message):
    write_zip(
        data_root / "bad.zip",
        {"meta.xml": meta, "occurrence.txt": core_frame.write_csv().encode()},
    )
    with pytest.raises(StepError, match=message):
        ingest_dwca(make_ctx, "bad.zip")
