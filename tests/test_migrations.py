"""The Alembic migration builds the whole schema on an empty database with no drift."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import DATABASE_URL, IS_POSTGRES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_database(tmp_path):
    """A brand-new empty database of the same kind as the suite's."""
    if not IS_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield DATABASE_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def flask(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {"FLASK_APP": "wsgi", "PORTAL_ENV": "development", "DATABASE_URL": url,
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_upgrade_builds_schema_without_drift(empty_database):
    upgraded = flask("db", "upgrade", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = create_engine(empty_database)
    tables = set(inspect(engine).get_table_names())
    assert {"users", "institutions", "monitoring_programmes", "monitoring_programme_runs",
            "monitoring_programme_run_steps", "monitoring_programme_alerts", "audit_events",
            "monitoring_programme_stewards"} <= tables
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("monitoring_programme_runs")}
    assert indexes["uq_runs_one_active_per_programme"]["unique"]
    engine.dispose()
    check = flask("db", "check", url=empty_database)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_migrated_schema_enforces_one_active_run(empty_database):
    assert flask("db", "upgrade", url=empty_database).returncode == 0
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO monitoring_programmes (code, title, description, active,"
                          " refresh_cadence, timezone, scheduler_enabled,"
                          " pipeline_definition_json, data_quality_rules_json, lineage_notes,"
                          " created_at, updated_at) VALUES ('P', 'P', '', true, 'manual', 'UTC',"
                          " false, '{}', '{}', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    insert = text("INSERT INTO monitoring_programme_runs (uuid, programme_id, run_type, trigger,"
                  " status, dry_run, skipped_slots, cancel_requested, queued_at, scheduled_for)"
                  " VALUES (:uuid, 1, 'full', 'manual', :status, false, 0, false,"
                  " CURRENT_TIMESTAMP, :slot)")
    with engine.begin() as conn:
        conn.execute(insert, {"uuid": "a", "status": "queued", "slot": None})
    with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
        conn.execute(insert, {"uuid": "b", "status": "running", "slot": None})
    with engine.begin() as conn:
        conn.execute(insert, {"uuid": "c", "status": "succeeded", "slot": "2026-01-01 06:00:00"})
    with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
        conn.execute(insert, {"uuid": "d", "status": "failed", "slot": "2026-01-01 06:00:00"})
    engine.dispose()
