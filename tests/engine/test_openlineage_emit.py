"""With OPENLINEAGE_URL set, the worker POSTs a finished run's OpenLineage events to the
collector (here a local HTTP server); dry runs send nothing."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.services.runs import queue_run
from tests.engine.conftest import (
    empty_queues,
    start_worker,
    stop_process_group,
    wait_final,
    wait_for,
)
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user

pytestmark = pytest.mark.worker
RECEIVED: list[dict] = []


class Collector(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 — http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        RECEIVED.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def collector_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/v1/lineage"
    server.shutdown()


@pytest.fixture(scope="module")
def lineage_worker(engine_roots, collector_url):
    empty_queues()
    process = start_worker(engine_roots, OPENLINEAGE_URL=collector_url)
    yield process
    stop_process_group(process)


def test_finished_runs_are_sent_and_dry_runs_are_not(app, lineage_worker):
    RECEIVED.clear()
    programme = gen_programme(pipeline_definition_json=pipeline(
        ("ingest", "ingest.test_table", {"params": {"rows": 10}}), ("noop", "test.noop")))
    run = wait_final(queue_run(programme, gen_user()).run.id)
    assert run.status == "succeeded"
    wait_for(lambda: len(RECEIVED) == 2, message="two OpenLineage events")
    assert [event["eventType"] for event in RECEIVED] == ["START", "COMPLETE"]
    assert {event["run"]["runId"] for event in RECEIVED} == {run.uuid}
    assert RECEIVED[0]["job"]["name"] == f"{programme.code}.full"

    RECEIVED.clear()
    dry = wait_final(queue_run(programme, gen_user(), dry_run=True).run.id)
    assert dry.status == "succeeded"
    # A normal run queued after it is delivered, so the dry run had its chance to send.
    after = wait_final(queue_run(programme, gen_user()).run.id)
    wait_for(lambda: len(RECEIVED) == 2, message="the later run's events")
    assert {event["run"]["runId"] for event in RECEIVED} == {after.uuid}
