"""Migration 0011 copies upload history into the input sightings: each sha256 at its
first upload, so deadlines met by earlier uploads stay met after an upgrade."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tests.test_migrations import empty_database, flask  # noqa: F401 — the fixture


def test_upgrade_copies_each_uploaded_sha256_at_its_first_upload(empty_database):  # noqa: F811
    assert flask("db", "upgrade", "0010", url=empty_database).returncode == 0
    engine = sa.create_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO monitoring_programmes (code, title, description, active,"
            " refresh_cadence, timezone, scheduler_enabled, pipeline_definition_json,"
            " data_quality_rules_json, lineage_notes, created_at, updated_at, max_attempts,"
            " licence) VALUES ('BIRDS', 'B', '', true, 'manual', 'UTC', false, '{}', '{}', '',"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, '')"))
        uploads = [("u1", "BIRDS/inbox/20260102-a.csv", "a", datetime(2026, 1, 2)),
                   ("u2", "BIRDS/inbox/20260101-a.csv", "a", datetime(2026, 1, 1)),
                   ("u3", "BIRDS/inbox/20260103-b.csv", "b", datetime(2026, 1, 3))]
        for uuid, path, sha, at in uploads:
            conn.execute(sa.text(
                "INSERT INTO programme_uploads (uuid, programme_id, original_name, stored_path,"
                " kind, bytes, sha256, uploaded_at) VALUES (:uuid, 1, 'x.csv', :path, 'csv', 1,"
                " :sha, :at)"), {"uuid": uuid, "path": path, "sha": sha * 64, "at": at})
    upgraded = flask("db", "upgrade", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT sha256, source, uri, first_seen_at, run_id FROM programme_input_sightings"
            " ORDER BY sha256")).all()
    engine.dispose()
    assert [(sha[0], source, uri, str(seen)[:10], run) for sha, source, uri, seen, run
            in rows] == [("a", "upload", "inbox/20260101-a.csv", "2026-01-01", None),
                         ("b", "upload", "inbox/20260103-b.csv", "2026-01-03", None)]
