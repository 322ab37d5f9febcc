"""Frictionless data packages on disk and zipped, built around the Portal ant files."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from jobs.registry import get_step
from jobs.steps.base import StepError, sha256_file
from tests.jobs.conftest import ANT_SPECIES, ANTS

PACKAGE = {
    "name": "portal-ants",
    "resources": [
        {"name": "colonies", "path": "data/colonies.csv", "format": "csv"},
        {"name": "species", "path": "data/species.csv"},
        {"name": "flags", "data": [["flag", "meaning"], [10, "plot redone, duplicate data"]]},
    ],
}


@pytest.fixture
def package_dir(data_root):
    folder = data_root / "package"
    (folder / "data").mkdir(parents=True)
    shutil.copy(data_root / ANTS, folder / "data" / "colonies.csv")
    shutil.copy(data_root / ANT_SPECIES, folder / "data" / "species.csv")
    (folder / "datapackage.json").write_text(json.dumps(PACKAGE))
    return folder


def ingest(make_ctx, **params):
    ctx = make_ctx(params)
    return ctx, get_step("ingest.frictionless")(ctx)


def test_a_resource_is_picked_by_name(make_ctx, package_dir):
    ctx, result = ingest(make_ctx, source="package/datapackage.json", resource="species")
    frame = result.tables["data"]
    assert frame.height == 27
    assert "speciescode" in frame.columns
    assert result.details["resource"] == "species"
    assert result.details["uri"] == "package/data/species.csv"
    uris = [(entry["uri"], entry["rows"], entry["table"]) for entry in ctx.lineage["inputs"]]
    assert uris == [
        ("package/datapackage.json", None, None),
        ("package/data/species.csv", 27, "data"),
    ]


def test_the_first_resource_by_default(make_ctx, package_dir):
    _, result = ingest(make_ctx, source="package/datapackage.json")
    assert result.rows_out == 34931
    assert result.details["sha256"] == sha256_file(package_dir / "data" / "colonies.csv")


def test_inline_data_becomes_strings(make_ctx, package_dir):
    _, result = ingest(make_ctx, source="package/datapackage.json", resource="flags")
    assert result.tables["data"].to_dicts() == [
        {"flag": "10", "meaning": "plot redone, duplicate data"}
    ]


def test_an_unknown_resource_lists_the_known_ones(make_ctx, package_dir):
    with pytest.raises(StepError, match="no resource named 'counts' .*colonies, species, flags"):
        ingest(make_ctx, source="package/datapackage.json", resource="counts")


def test_multipart_resource_without_header_named_by_its_schema(make_ctx, package_dir):
    (package_dir / "data" / "part1.tsv").write_text("A\t1\nB\t2\n")
    (package_dir / "data" / "part2.tsv").write_text("C\t3\n")
    descriptor = {
        "resources": [
            {
                "name": "counts",
                "path": ["data/part1.tsv", "data/part2.tsv"],
                "dialect": {"delimiter": "\t", "header": False},
                "schema": {"fields": [{"name": "site"}, {"name": "count"}]},
            }
        ]
    }
    (package_dir / "parts.json").write_text(json.dumps(descriptor))
    ctx, result = ingest(make_ctx, source="package/parts.json")
    assert result.tables["data"].to_dict(as_series=False) == {
        "site": ["A", "B", "C"],
        "count": ["1", "2", "3"],
    }
    assert [entry["uri"] for entry in ctx.lineage["inputs"]] == [
        "package/parts.json",
        "package/data/part1.tsv",
        "package/data/part2.tsv",
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("https://example.org/counts.csv", "is remote; use an ingest.http step"),
        ("../../outside.csv", "must not contain '..'"),
        ("/etc/passwd", "must be a path relative to DATA_ROOT"),
    ],
)
def test_unsafe_or_remote_resource_paths_are_refused(make_ctx, package_dir, path, message):
    (package_dir / "bad.json").write_text(json.dumps({"resources": [{"name": "x", "path": path}]}))
    with pytest.raises(StepError, match=message):
        ingest(make_ctx, source="package/bad.json")


def test_a_descriptor_that_is_not_a_package_is_refused(make_ctx, package_dir):
    (package_dir / "broken.json").write_text("{not json")
    with pytest.raises(StepError, match="not valid JSON"):
        ingest(make_ctx, source="package/broken.json")
    (package_dir / "empty.json").write_text("{}")
    with pytest.raises(StepError, match="needs a 'resources' list"):
        ingest(make_ctx, source="package/empty.json")


def test_a_zipped_package(make_ctx, package_dir, data_root):
    with zipfile.ZipFile(data_root / "ants-package.zip", "w") as archive:
        archive.write(package_dir / "datapackage.json", "datapackage.json")
        archive.write(package_dir / "data" / "species.csv", "data/species.csv")
    ctx, result = ingest(make_ctx, source="ants-package.zip", resource="species")
    assert result.rows_out == 27
    assert [entry["uri"] for entry in ctx.lineage["inputs"]] == ["ants-package.zip"]
    with pytest.raises(StepError, match=r"'data/colonies.csv' is not in the archive"):
        ingest(make_ctx, source="ants-package.zip", resource="colonies")


def test_a_zip_without_descriptor_is_refused(make_ctx, data_root):
    with zipfile.ZipFile(data_root / "nopkg.zip", "w") as archive:
        archive.writestr("data.csv", "a\n1\n")
    with pytest.raises(StepError, match="no datapackage.json in the archive"):
        ingest(make_ctx, source="nopkg.zip")
