"""Zip bombs and hostile archives (issue 9, part 5): refused from the central directory in
the upload request, and refused mid-stream by the worker when the directory lies.

The archives are built in the test: a 1 GiB member of zeros deflates to about 1 MB; a
member whose headers declare 1,000 bytes but inflates to 64 MiB; 1,001 members; path
tricks, links and encryption. A real Darwin Core Archive built from the snail
occurrences in shared/data still uploads and runs.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import stat
import struct
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ProgrammeUpload
from portal.services.runs import queue_run
from portal.services.safezip import SafeZip, ZipRefused
from tests.engine.conftest import (  # noqa: F401 — fixtures
    app_config,
    engine_roots,
    wait_final,
    worker,
)
from tests.factories import gen_programme, gen_steward, gen_user

DWC = "http://rs.tdwg.org/dwc/terms/"
GIB = 1 << 30
PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.dwca", "params": {"source": "inbox/latest"}},
    {"key": "validate", "type": "validate.rules"},
]}


def meta_xml(columns: list[str], location: str = "occurrence.txt") -> bytes:
    """A meta.xml describing a comma-separated core with a header line."""
    fields = "".join(f'<field index="{i}" term="{DWC}{name}"/>' for i, name in enumerate(columns))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/">'
        f'<core rowType="{DWC}Occurrence" fieldsTerminatedBy="," linesTerminatedBy="\\n" '
        'fieldsEnclosedBy="&quot;" ignoreHeaderLines="1" encoding="UTF-8">'
        f"<files><location>{location}</location></files>"
        f'<id index="{columns.index("occurrenceID") if "occurrenceID" in columns else 0}"/>'
        f"{fields}</core></archive>\n"
    ).encode()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def patch_member(data: bytes, member: str, *, flag_bits: int | None = None,
                 file_size: int | None = None) -> bytes:
    """Rewrite a member's flags or uncompressed size in its local header AND its central
    directory entry, as a hostile tool would (the compressed bytes are unchanged)."""
    patched = bytearray(data)
    local = zipfile.ZipFile(io.BytesIO(data)).getinfo(member).header_offset
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(member)] != member.encode():
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, central + 28)
        central += 46 + name_length + extra_length + comment_length
    if flag_bits is not None:
        struct.pack_into("<H", patched, local + 6, flag_bits)
        struct.pack_into("<H", patched, central + 8, flag_bits)
    if file_size is not None:
        struct.pack_into("<L", patched, local + 22, file_size)
        struct.pack_into("<L", patched, central + 24, file_size)
    return bytes(patched)


@pytest.fixture(scope="session")
def snails_csv(shared_data) -> bytes:
    return (shared_data / "landsnails-gran-canaria" / "occurrence.csv").read_bytes()


@pytest.fixture(scope="session")
def snails_columns(snails_csv) -> list[str]:
    return next(csv.reader(io.StringIO(snails_csv.decode("utf-8-sig"))))


@pytest.fixture(scope="session")
def snails_dwca(snails_csv, snails_columns) -> bytes:
    """A real Darwin Core Archive: the 389 snail occurrences and a meta.xml for them."""
    return zip_bytes({"meta.xml": meta_xml(snails_columns), "occurrence.txt": snails_csv})


@pytest.fixture(scope="session")
def gib_bomb(tmp_path_factory, snails_columns) -> Path:
    """A Darwin Core Archive whose core is 1 GiB of zeros: about 1 MB on disk."""
    path = tmp_path_factory.mktemp("bombs") / "bomb.zip"
    block = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("meta.xml", meta_xml(snails_columns))
        with archive.open("occurrence.txt", "w", force_zip64=True) as member:
            for _ in range(GIB // len(block)):
                member.write(block)
    return path


@pytest.fixture(scope="session")
def lying_archive(snails_columns) -> bytes:
    """A DwC-A whose core declares 1,000 bytes in both headers but inflates to 64 MiB."""
    honest = zip_bytes({"meta.xml": meta_xml(snails_columns),
                        "occurrence.txt": b"x," * (32 << 20)})
    return patch_member(honest, "occurrence.txt", file_size=1000)


@pytest.fixture
def steward(app, auth, engine_roots):  # noqa: F811
    """A steward of programme ZIPS, signed in; the programme's folder starts empty."""
    shutil.rmtree(engine_roots / "data" / "ZIPS", ignore_errors=True)
    programme = gen_programme("ZIPS", pipeline_definition_json=PIPELINE)
    user = gen_user("steward@example.org")
    gen_steward(programme, user, "steward")
    auth.login("steward@example.org")
    return programme, user


def upload(auth, name: str, data: bytes):
    return auth.post("/programmes/ZIPS/inbox", {"file": (io.BytesIO(data), name)},
                     content_type="multipart/form-data")


def assert_nothing_stored(app) -> None:
    inbox = Path(app.config["DATA_ROOT"]) / "ZIPS" / "inbox"
    assert not inbox.exists() or list(inbox.iterdir()) == []
    assert db.session.scalar(select(func.count()).select_from(ProgrammeUpload)) == 0


def test_a_1mb_file_that_inflates_to_1gib_is_refused_at_once(app, steward, auth, gib_bomb):
    data = gib_bomb.read_bytes()
    assert len(data) < 2 << 20  # about 1 MB on the wire
    started = time.perf_counter()
    response = upload(auth, "bomb.zip", data)
    elapsed = time.perf_counter() - started
    print(f"\n1 GiB zip bomb ({len(data):,} bytes) refused by the upload route in "
          f"{elapsed * 1000:.0f} ms")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "occurrence.txt" in page and "1,073,741,824" in page
    assert "the limit is 100:1 (ZIP_MAX_RATIO)" in page
    assert_nothing_stored(app)


def test_the_api_refuses_the_bomb_with_a_json_message(app, steward, gib_bomb):
    from portal.auth.tokens import create_token

    _, secret = create_token(steward[1], "script")
    script = app.test_client()  # a script with a token, not the signed-in browser
    response = script.post("/api/v1/programmes/ZIPS/files",
                           data={"file": (io.BytesIO(gib_bomb.read_bytes()), "bomb.zip")},
                           headers={"Authorization": f"Bearer {secret}"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json["field"] == "file"
    assert "'occurrence.txt'" in response.json["message"]
    assert "ZIP_MAX_RATIO" in response.json["message"]
    assert_nothing_stored(app)


def test_too_many_members_are_refused(app, steward, auth, snails_columns):
    members = {"meta.xml": meta_xml(snails_columns), "occurrence.txt": b"occurrenceID\n1\n"}
    members.update({f"notes/{n:04d}.txt": b"" for n in range(999)})
    response = upload(auth, "crowded.zip", zip_bytes(members))
    assert response.status_code == 400
    assert "1,001 members; the limit is 1,000 (ZIP_MAX_MEMBERS)" in response.get_data(
        as_text=True)
    assert_nothing_stored(app)


@pytest.mark.parametrize("member", [
    "occurrence/../../../etc/cron.d/evil",
    "dwca/data/../../../../root/.ssh/authorized_keys",
    "/etc/passwd",
    "..\\..\\windows\\evil.bat",
    "C:/Users/Public/evil.txt",
])
def test_path_traversal_member_names_are_refused(app, steward, auth, snails_csv,
                                                 snails_columns, member):
    archive = zip_bytes({"meta.xml": meta_xml(snails_columns), "occurrence.txt": snails_csv,
                         member: b"pwned"})
    response = upload(auth, "traversal.zip", archive)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "unsafe member name" in page and "absolute path or &#39;..&#39;" in page
    assert_nothing_stored(app)


def test_symlink_and_encrypted_members_are_refused(app, steward, auth, snails_csv,
                                                   snails_columns):
    link = zipfile.ZipInfo("occurrence.txt")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("meta.xml", meta_xml(snails_columns))
        archive.writestr(link, "/srv/data/OTHER/inbox/latest")
    response = upload(auth, "link.zip", buffer.getvalue())
    assert response.status_code == 400
    assert "&#39;occurrence.txt&#39; is a symbolic link" in response.get_data(as_text=True)

    locked = patch_member(zip_bytes({"meta.xml": meta_xml(snails_columns),
                                     "occurrence.txt": snails_csv}),
                          "occurrence.txt", flag_bits=0x1)
    response = upload(auth, "locked.zip", locked)
    assert response.status_code == 400
    assert "&#39;occurrence.txt&#39; is encrypted" in response.get_data(as_text=True)
    assert_nothing_stored(app)


def test_sniffing_inflates_no_more_than_a_capped_descriptor(app, steward, auth, snails_csv):
    # meta.xml of 2 MiB (a comment of random hex pads it, so the ratio is ordinary):
    # the web request stops inflating it at 1 MiB.
    noise = random.Random(9).randbytes(1 << 20).hex().encode()
    padded = b"<?xml version='1.0'?><!--" + noise + b"--><archive/>"
    response = upload(auth, "padded.zip", zip_bytes({"meta.xml": padded,
                                                     "occurrence.txt": snails_csv}))
    assert response.status_code == 400
    assert "&#39;meta.xml&#39; is larger than 1,048,576 bytes, the most read from it here" \
        in response.get_data(as_text=True)
    assert_nothing_stored(app)


@pytest.fixture
def small_total(app_config):  # noqa: F811
    app_config["ZIP_MAX_TOTAL_BYTES"] = 100_000


def test_the_configured_total_limit_applies(small_total, app, steward, auth, snails_dwca):
    response = upload(auth, "snails.zip", snails_dwca)
    assert response.status_code == 400
    assert "more than 100,000 bytes uncompressed in total" in response.get_data(as_text=True)
    assert "ZIP_MAX_TOTAL_BYTES" in response.get_data(as_text=True)
    assert_nothing_stored(app)


def test_a_real_darwin_core_archive_uploads_and_runs(app, steward, auth, snails_dwca,
                                                     worker):  # noqa: F811
    programme, user = steward
    response = upload(auth, "snails-dwca.zip", snails_dwca)
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = db.session.scalar(select(ProgrammeUpload))
    assert stored.kind == "dwca" and stored.summary_json["core"] == "occurrence.txt"

    run = wait_final(queue_run(programme, user).run.id)
    assert run.status == "succeeded", run.error_message
    ingest = next(step for step in run.steps if step.step_key == "ingest")
    assert ingest.rows_out == 389


def test_a_lying_central_directory_is_refused_mid_stream_by_the_worker(
        app, steward, auth, lying_archive, worker):  # noqa: F811
    programme, user = steward
    # The upload only reads meta.xml, so the lie about the core passes the web request ...
    response = upload(auth, "liar.zip", lying_archive)
    assert response.status_code == 302, response.get_data(as_text=True)

    # ... and the worker, counting what it inflates, stops at the declared 1,000 bytes.
    run = wait_final(queue_run(programme, user).run.id)
    assert run.status == "failed"
    assert "'occurrence.txt' inflates past its declared size of 1,000 bytes" in run.error_message
    ingest = next(step for step in run.steps if step.step_key == "ingest")
    assert ingest.status == "failed" and "refused mid-stream" in ingest.log_excerpt


def test_the_streaming_reader_refuses_what_headers_hide():
    """Direct checks of portal.services.safezip for tricks that need no route."""
    lying_stored = io.BytesIO()
    with zipfile.ZipFile(lying_stored, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("data.csv", b"a,b\n" * 1000)
    liar = SafeZip(patch_member(lying_stored.getvalue(), "data.csv", file_size=10), "s.zip")
    with pytest.raises(ZipRefused, match="inflates past its declared size of 10 bytes"):
        liar.read("data.csv")

    twice = io.BytesIO()
    with zipfile.ZipFile(twice, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("meta.xml", b"<archive/>")
        archive.writestr("meta.xml", b"<archive><evil/></archive>")
    with pytest.raises(ZipRefused, match="appears twice"):
        SafeZip(twice.getvalue(), "twice.zip")

    damaged = bytearray(zip_bytes({"data.csv": b"a,b\n1,2\n" * 5000}))
    damaged[60] ^= 0xFF  # a byte of the compressed data
    with pytest.raises(ZipRefused, match="'data.csv' is damaged"):
        SafeZip(bytes(damaged), "damaged.zip").read("data.csv")
