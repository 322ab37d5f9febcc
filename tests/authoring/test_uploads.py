"""The data inbox: each accepted type stored once with its sha256; bad files refused
with a clear message and nothing written."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, ProgrammeUpload
from tests.factories import gen_programme, gen_steward, gen_user

META_XML = """<?xml version="1.0" encoding="UTF-8"?>
<archive xmlns="http://rs.tdwg.org/dwc/text/">
  <core encoding="UTF-8" fieldsTerminatedBy="," linesTerminatedBy="\\n" fieldsEnclosedBy="&quot;"
        ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files><location>occurrence.csv</location></files>
    <id index="1"/>
    <field index="1" term="http://rs.tdwg.org/dwc/terms/occurrenceID"/>
  </core>
</archive>"""


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def snails(shared_data) -> bytes:
    return (shared_data / "landsnails-gran-canaria" / "occurrence.csv").read_bytes()


@pytest.fixture
def inbox(app, client, auth):
    programme = gen_programme("SNAILS")
    operator = gen_user("op@example.org")
    gen_steward(programme, operator, "operator")
    auth.login("op@example.org")
    return programme


def upload(auth, name: str, data: bytes):
    return auth.post("/programmes/SNAILS/inbox",
                     {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def stored_files(app) -> list[Path]:
    folder = Path(app.config["DATA_ROOT"]) / "SNAILS" / "inbox"
    return sorted(p for p in folder.glob("*") if p.name != "latest") if folder.exists() else []


def accepted_types(snails: bytes) -> list[tuple[str, bytes, str]]:
    text = snails.decode()
    tsv = "\n".join(line.replace(",", "\t") for line in text.splitlines()[:1]) + "\n"
    tsv += "a\t" * 39 + "b\n"
    package = json.dumps({"name": "snails", "resources": [
        {"name": "occurrence", "path": "occurrence.csv", "format": "csv"}]})
    return [
        ("occurrence.csv", snails, "csv"),
        ("occurrence.tsv", tsv.encode(), "tsv"),
        ("dwca.zip", zip_bytes({"meta.xml": META_XML.encode(), "occurrence.csv": snails}), "dwca"),
        ("package.zip", zip_bytes({"datapackage.json": package.encode(),
                                   "occurrence.csv": snails}), "frictionless"),
    ]


def test_each_accepted_type_is_stored_with_its_sha256(app, inbox, auth, snails):
    for name, data, kind in accepted_types(snails):
        response = upload(auth, name, data)
        assert response.status_code == 302, response.get_data(as_text=True)
        row = db.session.scalars(select(ProgrammeUpload).order_by(ProgrammeUpload.id.desc())
                                 ).first()
        assert row.kind == kind and row.original_name == name
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        stored = Path(app.config["DATA_ROOT"]) / row.stored_path
        assert stored.read_bytes() == data
        latest = Path(app.config["DATA_ROOT"]) / "SNAILS" / "inbox" / "latest"
        assert latest.resolve() == stored.resolve()
    assert len(stored_files(app)) == 4
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "programme_file_uploaded"))
    assert events == 4
    snail_row = db.session.scalar(select(ProgrammeUpload).where(ProgrammeUpload.kind == "csv"))
    assert snail_row.summary_json["rows"] == 389


def test_the_same_file_twice_never_overwrites(app, inbox, auth, snails):
    assert upload(auth, "occurrence.csv", snails).status_code == 302
    assert upload(auth, "occurrence.csv", snails).status_code == 302
    files = stored_files(app)
    assert len(files) == 2 and files[0] != files[1]


@pytest.mark.parametrize("name,make,message", [
    ("empty.csv", lambda s: b"", "empty"),
    ("fake.csv", lambda s: zip_bytes({"occurrence.csv": s}), "does not match its extension"),
    ("fake.zip", lambda s: s, "does not match its extension"),
    ("evil.zip", lambda s: zip_bytes({"meta.xml": META_XML.encode(), "occurrence.csv": s,
                                      "../evil.sh": b"rm -rf /"}), "unsafe member name"),
    ("truncated.zip", lambda s: zip_bytes({"meta.xml": META_XML.encode(),
                                           "occurrence.csv": s})[:500], "not a readable zip"),
    ("plain.zip", lambda s: zip_bytes({"occurrence.csv": s}), "neither meta.xml"),
    ("picture.csv", lambda s: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("latin1.csv", lambda s: "a,b\ncafé,1\n".encode("latin-1"), "not UTF-8"),
    ("ragged.csv", lambda s: b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n", "cannot be read"),
    ("notes.docx", lambda s: s, "Unsupported file type"),
])
def test_bad_files_are_refused_and_nothing_is_written(app, inbox, auth, snails, name, make,
                                                      message):
    response = upload(auth, name, make(snails))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored_files(app) == []
    assert db.session.scalar(select(func.count()).select_from(ProgrammeUpload)) == 0


def test_oversized_file_is_refused(_schema, app_config, tmp_path):
    from portal import create_app

    app_config.update(MAX_UPLOAD_BYTES=1000, MAX_CONTENT_LENGTH=10000)
    # A fresh app with a small limit (the fixture app is built with the default).
    app = create_app("testing", app_config)
    with app.app_context():
        from tests.conftest import AuthActions, _empty_tables

        _empty_tables()
        programme = gen_programme("SNAILS")
        gen_steward(programme, gen_user("op@example.org"), "operator")
        client = app.test_client()
        auth = AuthActions(client)
        auth.login("op@example.org")
        over_service = upload(auth, "big.csv", b"a,b\n" + b"1,2\n" * 400)
        assert over_service.status_code == 400
        assert "the limit is 1,000" in over_service.get_data(as_text=True)
        over_wire = upload(auth, "huge.csv", b"a,b\n" + b"1,2\n" * 5000)
        assert over_wire.status_code == 413
        assert "too large" in over_wire.get_data(as_text=True)
        assert db.session.scalar(select(func.count()).select_from(ProgrammeUpload)) == 0
        db.session.remove()
        db.engine.dispose()


def test_api_upload_with_a_token(app, client, snails):
    from portal.auth.tokens import create_token

    programme = gen_programme("SNAILS")
    steward = gen_user("st@example.org")
    gen_steward(programme, steward, "steward")
    _, secret = create_token(steward, "field laptop")
    response = client.post("/api/v1/programmes/SNAILS/files",
                           data={"file": (io.BytesIO(snails), "occurrence.csv")},
                           headers={"Authorization": f"Bearer {secret}"},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["sha256"] == hashlib.sha256(snails).hexdigest()
    assert response.json["kind"] == "csv"
    bad = client.post("/api/v1/programmes/SNAILS/files",
                      data={"file": (io.BytesIO(b""), "empty.csv")},
                      headers={"Authorization": f"Bearer {secret}"},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and bad.json["field"] == "file"
    assert "empty" in bad.json["message"]
    missing = client.post("/api/v1/programmes/SNAILS/files",
                          headers={"Authorization": f"Bearer {secret}"})
    assert missing.status_code == 400 and missing.json["field"] == "file"


def test_reviewer_cannot_upload(app, client, auth, snails):
    programme = gen_programme("SNAILS")
    gen_steward(programme, gen_user("rev@example.org"), "reviewer")
    auth.login("rev@example.org")
    page = client.get("/programmes/SNAILS/inbox")
    assert page.status_code == 200 and 'type="file"' not in page.get_data(as_text=True)
    response = upload(auth, "occurrence.csv", snails)
    assert response.status_code == 403
    assert stored_files(app) == []
