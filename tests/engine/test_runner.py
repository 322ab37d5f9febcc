"""The pipeline runner in this process (``jobs.tasks.execute_run`` without a worker)."""

from __future__ import annotations

import sys
import types

import pytest
from sqlalchemy import select

from jobs.runner import select_steps
from jobs.tasks import execute_run
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeRun
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_run


def run_now(definition: dict, **run_fields) -> MonitoringProgrammeRun:
    programme = gen_programme(pipeline_definition_json=definition)
    run = gen_run(programme, status="queued", **run_fields)
    execute_run(run.id)
    db.session.rollback()
    return db.session.get(MonitoringProgrammeRun, run.id, populate_existing=True)


@pytest.fixture
def rule_alerts(monkeypatch) -> list[tuple]:
    """Capture portal.services.alerts.sync_rule_alerts calls."""
    calls: list[tuple] = []
    try:
        import portal.services.alerts as alerts
    except ImportError:
        alerts = types.ModuleType("portal.services.alerts")
        monkeypatch.setitem(sys.modules, "portal.services.alerts", alerts)
    monkeypatch.setattr(alerts, "sync_rule_alerts",
                        lambda programme, run, results: calls.append((run.uuid, results)),
                        raising=False)
    return calls


def test_a_blocked_gate_blocks_the_run_and_skips_later_steps(app, rule_alerts):
    run = run_now(pipeline(("load", "ingest.test_table"),
                           ("gate", "validate.test_rules", {"params": {"block": True}}),
                           ("release", "publish.test_marker")))
    assert run.status == "blocked" and "gate" in run.error_message
    assert [s.status for s in run.steps] == ["succeeded", "blocked", "skipped"]
    assert run.steps[1].details_json["rules"][0]["id"] == "no-nulls"
    assert [uuid for uuid, _ in rule_alerts] == [run.uuid]
    assert rule_alerts[0][1][0]["passed"] is False


def test_dry_runs_sync_no_alerts(app, rule_alerts):
    run = run_now(pipeline(("load", "ingest.test_table"), ("gate", "validate.test_rules")),
                  dry_run=True)
    assert run.status == "succeeded" and rule_alerts == []


def test_transient_errors_are_retried_with_back_off(app):
    run = run_now(pipeline(("fetch", "test.flaky", {"params": {"fail_times": 2}})))
    assert run.status == "succeeded"
    assert run.steps[0].attempts == 3
    assert "retrying" in run.steps[0].log_excerpt


def test_retries_run_out(app):
    run = run_now(pipeline(("fetch", "test.flaky",
                            {"params": {"fail_times": 5}, "retries": 1})))
    assert run.status == "failed" and "after 2 attempts" in run.error_message


def test_a_step_that_overruns_its_timeout_fails_the_run(app):
    run = run_now(pipeline(("slow", "test.sleep",
                            {"params": {"seconds": 5}, "timeout_seconds": 1}),
                           ("after", "test.noop")))
    assert run.status == "failed"
    assert "step slow timed out after 1 s" in run.error_message
    assert [s.status for s in run.steps] == ["failed", "skipped"]


def test_a_step_bug_fails_the_run_with_its_traceback(app):
    run = run_now(pipeline(("bug", "test.crash")))
    assert run.status == "failed" and "ZeroDivisionError" in run.error_message
    assert "Traceback" in run.steps[0].log_excerpt


def test_an_invalid_definition_fails_at_run_time_with_its_json_path(app):
    run = run_now({"steps": [{"key": "x", "type": "test.noop"},
                             {"key": "x", "type": "test.noop"}]})
    assert run.status == "failed" and "$.steps[1].key" in run.error_message


def test_a_run_that_is_no_longer_queued_is_left_alone(app):
    run = gen_run(gen_programme(pipeline_definition_json=pipeline(("a", "test.noop"))),
                  status="cancelled")
    assert execute_run(run.id) == "skipped: run is cancelled"
    assert db.session.scalar(select(AuditEvent.id)) is None


def test_lineage_and_output_summary_are_recorded(app):
    run = run_now(pipeline(("load", "ingest.test_table", {"params": {"rows": 4}}),
                           ("count", "compute.test_noop"), ("release", "publish.test_marker")))
    assert run.status == "succeeded"
    assert run.output_summary_json["tables"] == {"data": 4}
    assert run.output_summary_json["release_version"] == "1.0.0"
    lineage = run.lineage_json
    assert lineage["inputs"][0]["uri"] == "test://load"
    assert [s["key"] for s in lineage["steps"]] == ["load", "count", "release"]
    assert len(lineage["definition_sha256"]) == 64 and len(lineage["rules_sha256"]) == 64
    assert run.input_summary_json["definition"]["steps"][0]["key"] == "load"


@pytest.mark.parametrize(("run_type", "expected"), [
    ("ingest", ["a", "b"]), ("validate", ["a", "b", "v"]),
    ("compute", ["a", "b", "v", "c"]), ("full", ["a", "b", "v", "c", "p"]),
    ("publish", ["a", "b", "v", "c", "p"]),
])
def test_run_type_selects_how_far_the_pipeline_runs(run_type, expected):
    definition = pipeline(("a", "ingest.test_table"), ("b", "ingest.test_table"),
                          ("v", "validate.test_rules"), ("c", "compute.test_noop"),
                          ("p", "publish.test_marker"))
    assert [step["key"] for step in select_steps(definition, run_type)] == expected
