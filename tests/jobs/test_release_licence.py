"""A release's licence: the pipeline's, the programme's or the input's own — never a default."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from jobs.licences import dwca_licence, eml_licence, release_licence
from jobs.registry import get_step
from jobs.steps.base import StepError
from portal.services.licences import licence_descriptor, licence_error
from tests.packages import (
    camera_trap_rows,
    event_core_rows,
    write_camtrap_dp,
    write_event_core_archive,
)

SITES = pl.DataFrame({"site": ["a", "b"], "records": [3, 0]})

IPT_EML = b"""<?xml version="1.0" encoding="UTF-8"?>
<eml:eml xmlns:eml="https://eml.ecoinformatics.org/eml-2.1.1" packageId="x" system="x">
<dataset><title>Plots</title><intellectualRights><para>This work is licensed under a
<ulink url="http://creativecommons.org/licenses/by/4.0/legalcode"><citetitle>Creative
Commons Attribution (CC-BY) 4.0 License</citetitle></ulink>.</para></intellectualRights>
</dataset></eml:eml>"""


def publish(make_ctx, **fields):
    ctx = make_ctx({"name": "sites", "tables": ["sites"], **fields.pop("params", {})},
                   tables={"sites": SITES}, primary_table="sites", step_key="publish",
                   **fields)
    return ctx, get_step("publish.release")(ctx)


def released_package(ctx) -> dict:
    release = Path(ctx.publish_root) / ctx.programme_code / ctx.lineage["release"]["version"]
    return json.loads((release / "datapackage.json").read_text())


def test_no_licence_anywhere_refuses_and_writes_nothing(make_ctx, tmp_path):
    with pytest.raises(StepError) as refused:
        publish(make_ctx)
    message = str(refused.value)
    assert message.startswith("no licence for the release")
    assert "Release licence" in message and "nothing was published" in message
    assert not (tmp_path / "publish").exists()


def test_a_dry_run_refuses_too(make_ctx):
    with pytest.raises(StepError, match="no licence for the release"):
        publish(make_ctx, dry_run=True)


def test_the_programme_licence_is_in_datapackage_json(make_ctx):
    ctx, result = publish(make_ctx, programme_licence="CC-BY-4.0")
    assert result.status == "succeeded"
    assert released_package(ctx)["licenses"] == [
        {"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/",
         "title": "CC BY 4.0"}]
    assert ctx.lineage["release"]["licence_from"] == "programme"
    assert "licence CC-BY-4.0 (the programme's)" in ctx.log_lines[-1]


def test_a_licence_url_keeps_its_title(make_ctx):
    ctx, _ = publish(make_ctx, programme_licence="https://example.org/terms Example open terms")
    assert released_package(ctx)["licenses"] == [
        {"path": "https://example.org/terms", "title": "Example open terms"}]


def test_the_pipeline_parameter_overrides_the_programme(make_ctx):
    ctx, _ = publish(make_ctx, programme_licence="CC-BY-4.0", params={"license": "CC0-1.0"})
    assert released_package(ctx)["licenses"][0]["name"] == "CC0-1.0"
    assert ctx.lineage["release"]["licence_from"] == "pipeline"


def test_the_camtrap_package_licence_is_used_when_the_programme_has_none(make_ctx, data_root):
    write_camtrap_dp(data_root / "camtrap", camera_trap_rows())
    ingest = make_ctx({"source": "camtrap/datapackage.json"}, step_key="ingest")
    tables = get_step("ingest.camtrap_dp")(ingest).tables
    ctx = make_ctx({"name": "traps", "tables": ["deployments"]}, tables=tables,
                   lineage=ingest.lineage, step_key="publish")
    assert get_step("publish.release")(ctx).status == "succeeded"
    assert released_package(ctx)["licenses"][0]["name"] == "CC-BY-4.0"
    assert ctx.lineage["release"]["licence_from"] == "input"


def test_a_frictionless_descriptor_licence_is_used(make_ctx, data_root):
    folder = data_root / "pkg"
    folder.mkdir()
    (folder / "sites.csv").write_text("site,records\na,3\n")
    (folder / "datapackage.json").write_text(json.dumps({
        "name": "p", "licenses": [{"name": "ODbL-1.0"}],
        "resources": [{"name": "sites", "path": "sites.csv"}]}))
    ingest = make_ctx({"source": "pkg/datapackage.json", "as": "sites"}, step_key="ingest")
    tables = get_step("ingest.frictionless")(ingest).tables
    ctx = make_ctx({"name": "sites", "tables": ["sites"]}, tables=tables,
                   lineage=ingest.lineage, step_key="publish")
    get_step("publish.release")(ctx)
    assert released_package(ctx)["licenses"][0]["name"] == "ODbL-1.0"


def test_a_darwin_core_archive_declares_its_licence_in_eml(make_ctx, data_root):
    archive = write_event_core_archive(data_root / "events.zip", event_core_rows())
    assert dwca_licence(archive.read_bytes(), "events.zip") is None  # no EML in it
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr("eml.xml", IPT_EML)
    assert dwca_licence(archive.read_bytes(), "events.zip").startswith(
        "http://creativecommons.org/licenses/by/4.0/legalcode Creative Commons")
    ingest = make_ctx({"source": "events.zip"}, step_key="ingest")
    get_step("ingest.dwca")(ingest)
    ctx = make_ctx({"name": "sites", "tables": ["sites"]}, tables={"sites": SITES},
                   lineage=ingest.lineage, step_key="publish")
    get_step("publish.release")(ctx)
    # A well-known URL is named by its SPDX id.
    assert released_package(ctx)["licenses"][0]["name"] == "CC-BY-4.0"


def test_eml_2_2_licensed_element():
    eml = (b'<eml xmlns="https://eml.ecoinformatics.org/eml-2.2.0"><dataset><licensed>'
           b'<licenseName>Creative Commons Zero</licenseName>'
           b'<url>https://spdx.org/licenses/CC0-1.0.html</url>'
           b'<identifier>CC0-1.0</identifier></licensed></dataset></eml>')
    assert eml_licence(eml) == "CC0-1.0"
    free_text = b"<eml><dataset><intellectualRights><para>Ask us.</para>" \
                b"</intellectualRights></dataset></eml>"
    assert eml_licence(free_text) is None  # free text is not guessed at
    assert eml_licence(b"<not xml") is None


def test_inputs_with_different_licences_need_the_programme_to_decide(make_ctx):
    ctx = make_ctx({"name": "sites", "tables": ["sites"]}, tables={"sites": SITES})
    ctx.lineage["licenses"] = [{"uri": "a.zip", "licence": "CC-BY-4.0"},
                               {"uri": "b/datapackage.json", "licence": "CC0-1.0"}]
    with pytest.raises(StepError, match=r"different licences: CC-BY-4.0 \(a.zip\); CC0-1.0"):
        release_licence(ctx)
    ctx.programme_licence = "CC-BY-4.0"
    assert release_licence(ctx) == ("CC-BY-4.0", "programme")


@pytest.mark.parametrize("value, ok", [
    ("CC-BY-4.0", True), ("https://example.org/l Title words", True), ("", True),
    ("javascript:alert(1)", False), ("two words", False), ("x" * 400, False),
])
def test_licence_values(value, ok):
    assert (licence_error(value) is None) is ok


def test_unknown_spdx_ids_are_kept_as_given():
    assert licence_descriptor("MIT") == {"name": "MIT", "title": "MIT"}


def test_a_replay_publishes_under_the_recorded_licence():
    from jobs.replay import _recorded_licence

    assert _recorded_licence({"release": {"version": "1.2", "licence": "ODbL-1.0"}}) == "ODbL-1.0"
    # Releases recorded before a licence was required said CC0-1.0 by default.
    assert _recorded_licence({"release": {"version": "1.0"}}) == "CC0-1.0"
    assert _recorded_licence({"release": None}) is None
