"""Migration 0004 backfills each programme's summary and keeps every existing row."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.test_migrations import empty_database, flask  # noqa: F401 (fixture)

MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / \
    "0004_programme_summary.py"


def test_upgrade_backfills_the_summary_and_loses_nothing(empty_database):  # noqa: F811
    before = re.search(r"^down_revision = '(\w+)'", MIGRATION.read_text(), re.M).group(1)
    assert flask("db", "upgrade", before, url=empty_database).returncode == 0
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, email, name, password_hash, is_admin, active,"
            " failed_logins, created_at) VALUES (1, 'a@x.org', 'A', 'x', false, true, 0,"
            " CURRENT_TIMESTAMP)"))
        for pid, code in ((1, "BIRDS"), (2, "BATS")):
            conn.execute(text(
                "INSERT INTO monitoring_programmes (id, code, title, description, active,"
                " refresh_cadence, timezone, scheduler_enabled, pipeline_definition_json,"
                " data_quality_rules_json, lineage_notes, created_at, updated_at)"
                " VALUES (:id, :code, :code, '', true, 'manual', 'UTC', false, '{}', '{}',"
                " '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"id": pid, "code": code})
        conn.execute(text(
            "INSERT INTO monitoring_programme_stewards (programme_id, user_id, role,"
            " is_primary, is_active, notes, created_at) VALUES (1, 1, 'owner', false, true,"
            " '', CURRENT_TIMESTAMP)"))
        for rid, status, dry in ((1, "failed", False), (2, "succeeded", True)):
            conn.execute(text(
                "INSERT INTO monitoring_programme_runs (id, uuid, programme_id, run_type,"
                " trigger, status, dry_run, skipped_slots, cancel_requested, queued_at)"
                " VALUES (:id, :uuid, 1, 'full', 'manual', :status, :dry, 0, false,"
                " CURRENT_TIMESTAMP)"),
                {"id": rid, "uuid": f"run-{rid}", "status": status, "dry": dry})
        for n, state in enumerate(("open", "acknowledged", "resolved")):
            conn.execute(text(
                "INSERT INTO monitoring_programme_alerts (uuid, programme_id, rule_id,"
                " severity, state, message, occurrence_count, first_seen_at, last_seen_at)"
                " VALUES (:uuid, 1, :rule, 'error', :state, 'm', 1, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"), {"uuid": f"alert-{n}", "rule": f"r{n}", "state": state})
    upgraded = flask("db", "upgrade", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, latest_run_id, latest_run_uuid, latest_run_status,"
            " latest_run_dry_run, open_alert_count FROM monitoring_programmes ORDER BY id"
        )).all()
        kept = [conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in
                ("monitoring_programme_stewards", "monitoring_programme_runs",
                 "monitoring_programme_alerts")]
    engine.dispose()
    assert [tuple(row) for row in rows] == [("BIRDS", 2, "run-2", "succeeded", True, 2),
                                            ("BATS", None, None, None, False, 0)]
    assert kept == [1, 2, 3]
