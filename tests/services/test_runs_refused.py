"""Programmes that cannot be queued: one being set up (no steps yet), one archived."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.services import DomainError
from portal.services.runs import queue_run
from tests.factories import gen_programme, gen_user


def test_empty_pipeline_is_refused_before_a_row_exists(app):
    programme = gen_programme("SETUP", pipeline_definition_json={"steps": []})
    with pytest.raises(DomainError, match="no steps yet") as refused:
        queue_run(programme, gen_user())
    assert refused.value.field == "pipeline_definition_json"
    assert db.session.scalar(select(func.count()).select_from(MonitoringProgrammeRun)) == 0


def test_an_archived_programme_cannot_be_queued(app):
    programme = gen_programme("GONE", active=False, pipeline_definition_json={
        "steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]})
    with pytest.raises(DomainError, match="archived"):
        queue_run(programme, gen_user())
    assert db.session.scalar(select(func.count()).select_from(MonitoringProgrammeRun)) == 0
