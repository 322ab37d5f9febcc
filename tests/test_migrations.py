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


def test_upgrade_moves_sources_into_namespaces_and_grants_shared_folders(empty_database):
    """Migration 0002 rewrites DATA_ROOT-relative sources: the programme's own folder is
    dropped, another folder becomes a granted shared folder, another programme's folder
    is never granted."""
    import sqlalchemy as sa

    assert flask("db", "upgrade", "0001", url=empty_database).returncode == 0
    programmes = sa.table(
        "monitoring_programmes", sa.column("id", sa.Integer), sa.column("code", sa.String),
        sa.column("title", sa.String), sa.column("description", sa.Text),
        sa.column("active", sa.Boolean), sa.column("refresh_cadence", sa.String),
        sa.column("timezone", sa.String), sa.column("scheduler_enabled", sa.Boolean),
        sa.column("pipeline_definition_json", sa.JSON),
        sa.column("data_quality_rules_json", sa.JSON), sa.column("lineage_notes", sa.Text),
        sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))

    def ingest(*sources: str) -> dict:
        return {"steps": [{"key": f"in{i}", "type": "ingest.csv", "params": {"source": s}}
                          for i, s in enumerate(sources)] + [{"key": "v",
                                                              "type": "validate.rules"}]}

    def vocabulary(source: str) -> dict:
        return {"rules": [{"id": "v", "type": "allowed_values", "severity": "error",
                           "column": "taxon", "vocabulary": {"source": source,
                                                             "column": "taxon"}}]}

    rows = {
        "SNAILS": (ingest("SNAILS/inbox/latest", "single.csv"),
                   vocabulary("taxonomy/species.csv")),
        "BIRD-ATLAS": (ingest("bird-atlas/occurrence.csv"), {"rules": []}),
        "THIEF": (ingest("SNAILS/inbox/latest", "taxonomy/sites.csv"), {"rules": []}),
    }
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        for code, (pipeline, rules) in rows.items():
            conn.execute(programmes.insert().values(
                code=code, title=code, description="", active=True, refresh_cadence="manual",
                timezone="UTC", scheduler_enabled=False, pipeline_definition_json=pipeline,
                data_quality_rules_json=rules, lineage_notes="",
                created_at=sa.func.current_timestamp(), updated_at=sa.func.current_timestamp()))
    upgraded = flask("db", "upgrade", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    with engine.connect() as conn:
        stored = {code: (pipeline, rules) for code, pipeline, rules in conn.execute(sa.select(
            programmes.c.code, programmes.c.pipeline_definition_json,
            programmes.c.data_quality_rules_json))}
        folders = conn.execute(text("SELECT name, path FROM shared_folders")).all()
        grants = conn.execute(text(
            "SELECT f.name, p.code FROM shared_folder_grants g JOIN shared_folders f"
            " ON f.id = g.folder_id JOIN monitoring_programmes p ON p.id = g.programme_id"
            " ORDER BY p.code")).all()
    engine.dispose()

    def sources(code: str) -> list[str]:
        return [s["params"]["source"] for s in stored[code][0]["steps"] if "params" in s]

    assert sources("SNAILS") == ["inbox/latest", "single.csv"]
    assert stored["SNAILS"][1]["rules"][0]["vocabulary"]["source"] == (
        "shared:taxonomy/species.csv")
    assert sources("BIRD-ATLAS") == ["occurrence.csv"]
    # THIEF read SNAILS' inbox: left to fail in its own folder, never granted.
    assert sources("THIEF") == ["SNAILS/inbox/latest", "shared:taxonomy/sites.csv"]
    assert [tuple(f) for f in folders] == [("taxonomy", "taxonomy")]
    assert [tuple(g) for g in grants] == [("taxonomy", "SNAILS"), ("taxonomy", "THIEF")]


def test_upgrade_from_first_release_keeps_every_referencing_row(empty_database):
    """Upgrading a database in use loses nothing: SQLite's batch mode rebuilds tables by
    copy-and-drop, and with foreign keys on the drop used to cascade and delete every
    steward assignment (users rebuilt) and run step (runs rebuilt)."""
    assert flask("db", "upgrade", "0001", url=empty_database).returncode == 0
    engine = create_engine(empty_database)
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, email, name, password_hash, is_admin, active, failed_logins,"
            " created_at) VALUES (1, 'a@x.org', 'A', 'x', false, true, 0, :t),"
            " (2, 'b@x.org', 'B', 'y', false, true, 0, :t)"), {"t": now})
        conn.execute(text(
            "INSERT INTO monitoring_programmes (id, code, title, description, active,"
            " refresh_cadence, timezone, scheduler_enabled, pipeline_definition_json,"
            " data_quality_rules_json, lineage_notes, created_at, updated_at) VALUES"
            " (1, 'P', 'P', '', true, 'manual', 'UTC', false, '{\"steps\": []}',"
            " '{\"rules\": []}', '', :t, :t)"), {"t": now})
        conn.execute(text(
            "INSERT INTO monitoring_programme_stewards (programme_id, user_id, role, is_primary,"
            " is_active, notes, created_at) VALUES (1, 1, 'owner', true, true, '', :t),"
            " (1, 2, 'reviewer', false, true, '', :t)"), {"t": now})
        conn.execute(text(
            "INSERT INTO monitoring_programme_runs (id, uuid, programme_id, run_type, trigger,"
            " status, dry_run, skipped_slots, queued_at, cancel_requested) VALUES"
            " (1, 'u-1', 1, 'full', 'manual', 'succeeded', false, 0, :t, false)"), {"t": now})
        conn.execute(text(
            "INSERT INTO monitoring_programme_run_steps (run_id, ordering, step_key, step_type,"
            " status, attempts) VALUES (1, 0, 'in', 'ingest.csv', 'succeeded', 1),"
            " (1, 1, 'v', 'validate.rules', 'succeeded', 1)"))
    upgraded = flask("db", "upgrade", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    with engine.connect() as conn:
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for table in ("users", "monitoring_programme_stewards",
                                "monitoring_programme_runs", "monitoring_programme_run_steps")}
        tokens = conn.execute(text("SELECT session_token FROM users")).scalars().all()
    engine.dispose()
    assert counts == {"users": 2, "monitoring_programme_stewards": 2,
                      "monitoring_programme_runs": 1, "monitoring_programme_run_steps": 2}
    assert len(set(tokens)) == 2 and all(len(token) == 64 for token in tokens)
