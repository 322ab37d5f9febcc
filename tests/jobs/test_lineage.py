"""Lineage records and their OpenLineage export (shape, facets, POST to a collector)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from jobs.lineage import build_lineage, canonical_sha256
from portal.services.openlineage import OpenLineageError, openlineage_events, post_openlineage

DEFINITION = {
    "steps": [
        {
            "key": "ingest",
            "type": "ingest.darwin_core",
            "params": {"source": "snails/occ.csv", "as": "occurrence"},
        },
        {"key": "checks", "type": "validate.rules", "params": {}},
        {"key": "richness", "type": "compute.species_richness", "params": {}},
        {"key": "publish", "type": "publish.release", "params": {"name": "snails"}},
    ]
}
RULES = {
    "rules": [
        {
            "id": "taxon-present",
            "type": "not_null",
            "severity": "error",
            "column": "scientificName",
        },
        {"id": "unique-id", "type": "unique", "severity": "warning", "columns": ["occurrenceID"]},
        {"id": "enough-rows", "type": "row_count", "severity": "warning", "min": 1000},
    ]
}
RUN_LINEAGE = {
    "inputs": [
        {
            "uri": "snails/occ.csv",
            "sha256": "a" * 64,
            "bytes": 1234,
            "rows": 389,
            "columns": ["scientificName"],
            "step": "ingest",
        },
        {
            "uri": "vocab/taxa.csv",
            "sha256": "e" * 64,
            "bytes": 99,
            "rows": 60,
            "columns": ["name"],
            "step": "checks",
        },
    ],
    "outputs": [{"table": "richness", "rows": 36, "sha256": "b" * 64, "step": "richness"}],
    "release": {
        "version": "1.2",
        "path": "SNAILS/1.2",
        "files": [{"path": "richness.csv", "sha256": "c" * 64, "bytes": 900, "rows": 36}],
    },
}
VALIDATE_DETAILS = {
    "rules": [
        {"id": "taxon-present", "type": "not_null", "severity": "error", "passed": True},
        {"id": "unique-id", "type": "unique", "severity": "warning", "passed": True},
        {"id": "enough-rows", "type": "row_count", "severity": "warning", "passed": False},
    ]
}
STEPS = [
    {
        "key": "ingest",
        "status": "succeeded",
        "rows_in": 389,
        "rows_out": 389,
        "rows_rejected": 0,
        "input_fingerprint": None,
        "output_fingerprint": "d" * 64,
    },
    SimpleNamespace(
        key="checks",
        status="succeeded",
        rows_in=389,
        rows_out=389,
        rows_rejected=0,
        input_fingerprint="d" * 64,
        output_fingerprint=None,
        details=VALIDATE_DETAILS,
    ),
    {
        "key": "richness",
        "type": "compute.species_richness",
        "status": "succeeded",
        "rows_in": 389,
        "rows_out": 36,
        "rows_rejected": 0,
        "output_fingerprint": "b" * 64,
    },
    {"key": "publish", "status": "succeeded", "rows_in": 36, "rows_out": 36},
]
RUN_INFO = {
    "uuid": "5f0c6a4e-8a51-4cd4-9d0e-0f3b8c2a7e11",
    "programme_code": "SNAILS",
    "run_type": "manual",
    "status": "succeeded",
    "started_at": datetime(2025, 5, 1, 8, 0, 0),
    "finished_at": datetime(2025, 5, 1, 8, 0, 9),
    "error_message": None,
}


@pytest.fixture
def lineage() -> dict[str, Any]:
    return build_lineage(DEFINITION, RULES, "abc123", STEPS, RUN_LINEAGE)


def test_default_ingest_table_name_matches_the_ingest_steps():
    from jobs.lineage import INGEST_DEFAULT_TABLE
    from jobs.steps.ingest import DEFAULT_TABLE

    assert INGEST_DEFAULT_TABLE == DEFAULT_TABLE


def test_canonical_sha256_ignores_key_order_and_uses_compact_json():
    assert canonical_sha256({"b": 1, "a": [1, "é"]}) == canonical_sha256({"a": [1, "é"], "b": 1})
    expected = hashlib.sha256('{"a":[1,"é"],"b":1}'.encode()).hexdigest()
    assert canonical_sha256({"b": 1, "a": [1, "é"]}) == expected
    assert canonical_sha256({"a": 1}) != canonical_sha256({"a": 2})


def test_build_lineage_records_hashes_inputs_steps_and_release(lineage):
    assert lineage["definition_sha256"] == canonical_sha256(DEFINITION)
    assert lineage["rules_sha256"] == canonical_sha256(RULES)
    assert lineage["code_version"] == "abc123"
    assert lineage["inputs"] == [
        {
            "uri": "snails/occ.csv",
            "sha256": "a" * 64,
            "bytes": 1234,
            "rows": 389,
            "step": "ingest",
            "table": "occurrence",
        },
        {
            "uri": "vocab/taxa.csv",
            "sha256": "e" * 64,
            "bytes": 99,
            "rows": 60,
            "step": "checks",
            "table": None,
        },
    ]
    assert {q["table"] for q in lineage["quality"]} == {"occurrence"}
    assert [s["key"] for s in lineage["steps"]] == ["ingest", "checks", "richness", "publish"]
    assert lineage["steps"][0]["type"] == "ingest.darwin_core"  # filled from the definition
    assert lineage["steps"][1]["rows_in"] == 389 and lineage["steps"][1]["status"] == "succeeded"
    assert lineage["steps"][2]["output_fingerprint"] == "b" * 64
    assert lineage["outputs"] == RUN_LINEAGE["outputs"]
    assert lineage["release_version"] == "1.2"
    assert [(q["rule"], q["passed"], q["column"]) for q in lineage["quality"]] == [
        ("taxon-present", True, "scientificName"),
        ("unique-id", True, "occurrenceID"),
        ("enough-rows", False, None),
    ]
    json.dumps(lineage)  # storable as JSON


def _facets(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"facets", "inputFacets", "outputFacets"}:
                found.extend(value.values())
            found.extend(_facets(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_facets(item))
    return found


def test_events_are_start_then_complete_with_facets(lineage):
    start, complete = openlineage_events(RUN_INFO, lineage)

    for event in (start, complete):
        assert (
            event["schemaURL"]
            == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        )
        assert event["run"]["runId"] == RUN_INFO["uuid"]
        assert event["job"] == {"namespace": "programme-ops", "name": "SNAILS.manual", "facets": {}}
        assert event["producer"].startswith("https://")
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["eventTime"] == "2025-05-01T08:00:00+00:00"
    assert complete["eventTime"] == "2025-05-01T08:00:09+00:00"
    assert start["outputs"] == [] and "inputFacets" not in start["inputs"][0]

    source = complete["inputs"][0]
    assert (source["namespace"], source["name"]) == ("file", "snails/occ.csv")
    assert source["facets"]["version"]["datasetVersion"] == "a" * 64
    assertions = source["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions == [
        {"assertion": "taxon-present", "success": True, "column": "scientificName"},
        {"assertion": "unique-id", "success": True, "column": "occurrenceID"},
        {"assertion": "enough-rows", "success": False},
    ]
    vocabulary = complete["inputs"][1]
    assert vocabulary["name"] == "vocab/taxa.csv" and "inputFacets" not in vocabulary
    (output,) = complete["outputs"]
    assert output["name"] == "SNAILS/1.2/richness.csv"
    statistics = output["outputFacets"]["outputStatistics"]
    assert (statistics["rowCount"], statistics["size"]) == (36, 900)
    assert statistics["_schemaURL"].endswith(
        "OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
    )
    facets = _facets(complete)
    assert len(facets) >= 4
    for facet in facets:
        assert facet["_producer"] == complete["producer"]
        assert facet["_schemaURL"].startswith("https://openlineage.io/spec/facets/")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("failed", ["START", "FAIL"]),
        ("blocked", ["START", "FAIL"]),
        ("cancelled", ["START", "ABORT"]),
        ("running", ["START"]),
        ("queued", ["START"]),
    ],
)
def test_terminal_event_follows_the_run_status(lineage, status, expected):
    info = {**RUN_INFO, "status": status, "error_message": "rule enough-rows failed"}
    events = openlineage_events(info, lineage)
    assert [e["eventType"] for e in events] == expected
    if expected[-1] in {"FAIL", "ABORT"}:
        error = events[-1]["run"]["facets"]["errorMessage"]
        assert error["message"] == "rule enough-rows failed"
        assert error["programmingLanguage"] == "python"


def test_without_a_release_outputs_are_the_computed_tables():
    lineage = build_lineage(DEFINITION, RULES, "abc", STEPS, {**RUN_LINEAGE, "release": None})
    complete = openlineage_events({**RUN_INFO, "started_at": "2025-05-01T08:00:00Z"}, lineage)[1]
    assert complete["outputs"][0]["name"] == "SNAILS.richness"
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 36
    assert (
        openlineage_events({**RUN_INFO, "started_at": "2025-05-01T08:00:00Z"}, lineage)[0][
            "eventTime"
        ]
        == "2025-05-01T08:00:00Z"
    )


class _Collector(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    answer = 201

    def do_POST(self) -> None:  # noqa: N802 — http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"body": json.loads(body), "headers": dict(self.headers), "path": self.path}
        )
        self.send_response(type(self).answer)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector():
    class Handler(_Collector):
        received: list[dict[str, Any]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Handler, f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage"
    server.shutdown()
    server.server_close()


def test_post_sends_each_event_in_order(collector, lineage):
    handler, url = collector
    events = openlineage_events(RUN_INFO, lineage)
    assert post_openlineage(events, url, timeout=5, api_key="s3cret") == [201, 201]
    assert [r["body"]["eventType"] for r in handler.received] == ["START", "COMPLETE"]
    assert handler.received[1]["body"] == json.loads(json.dumps(events[1]))
    assert handler.received[0]["path"] == "/api/v1/lineage"
    assert handler.received[0]["headers"]["Content-Type"] == "application/json"
    assert handler.received[0]["headers"]["Authorization"] == "Bearer s3cret"


def test_post_reports_refusals_and_bad_urls(collector, lineage):
    handler, url = collector
    handler.answer = 500
    with pytest.raises(OpenLineageError, match="500"):
        post_openlineage(openlineage_events(RUN_INFO, lineage), url, timeout=5)
    assert len(handler.received) == 1  # stops at the first refusal
    with pytest.raises(OpenLineageError, match="http or https"):
        post_openlineage([], "file:///etc/passwd")
