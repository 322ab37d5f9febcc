"""The HTTP connector against a local BIRDIE-style API served on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.registry import get_step
from jobs.steps.base import StepError, TransientStepError, sha256_bytes
from portal.credentials import Credential, parse_host

TOKEN = "s3cret-token"
SPECIES = [
    {"id": 1, "name": "Passer melba", "count": 12, "tags": ["resident"], "extra": {"iucn": "LC"}},
    {"id": 2, "name": "Turdus olivaceus", "count": None, "active": True},
]
BIG = b"[" + b'{"n": 1},' * 1000 + b'{"n": 1}]'
ABUNDANCE_CSV = b"site,species,count\nZA-0001,Passer melba,4\nZA-0002,Turdus olivaceus,\n"


class BirdieApi(BaseHTTPRequestHandler):
    """Species (token required), sites, abundance CSV, and misbehaving endpoints."""

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def answer(self, code: int, body: bytes, kind: str = "application/json", length=True) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        if path == "/species":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.answer(401, b'{"error": "unauthorised"}')
            return self.answer(200, json.dumps({"data": {"records": SPECIES}}).encode())
        if path == "/sites":
            return self.answer(200, json.dumps([{"site": "ZA-0001", "lat": -25.1}]).encode())
        if path == "/abundance.csv":
            return self.answer(200, ABUNDANCE_CSV, "text/csv")
        if path == "/broken":
            return self.answer(503, b"down for maintenance", "text/plain")
        if path == "/busy":
            return self.answer(429, b"slow down", "text/plain")
        if path == "/big-declared":
            return self.answer(200, BIG)
        if path == "/big-streamed":
            self.close_connection = True
            return self.answer(200, BIG, length=False)
        if path == "/redirect-out":
            self.send_response(302)
            self.send_header("Location", "http://evil.example.org/steal")
            self.end_headers()
            return None
        if path == "/redirect-in":
            self.send_response(302)
            self.send_header("Location", "/sites")
            self.end_headers()
            return None
        if path == "/slow":
            time.sleep(2.5)
            return self.answer(200, b"[]")
        if path == "/numbers":
            return self.answer(200, b"[1, 2, 3]")
        if path == "/not-json":
            return self.answer(200, b"<html>oops</html>", "text/html")
        return self.answer(404, b'{"error": "no such endpoint"}')


@pytest.fixture(scope="module")
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BirdieApi)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# The deployment's declaration: credential "birdie" is the token in BIRDIE_TOKEN, for 127.0.0.1.
BIRDIE = Credential("birdie", "BIRDIE_TOKEN", (parse_host("127.0.0.1"),))


def fetch(make_ctx, allowlist=("127.0.0.1",), replay_inputs=None, credentials=None, **params):
    ctx = make_ctx(params, http_allowlist=list(allowlist), replay_inputs=replay_inputs,
                   credentials={"birdie": BIRDIE} if credentials is None else credentials)
    return ctx, get_step("ingest.http")(ctx)


def test_json_records_with_a_bearer_token_from_a_declared_credential(make_ctx, api, monkeypatch):
    monkeypatch.setenv("BIRDIE_TOKEN", TOKEN)
    url = f"{api}/species?region=ZA"
    ctx, result = fetch(make_ctx, url=url, records_path="data.records", credential="birdie")

    frame = result.tables["data"]
    assert frame.columns == ["id", "name", "count", "tags", "extra", "active"]
    assert frame.row(0, named=True) == {
        "id": "1",
        "name": "Passer melba",
        "count": "12",
        "tags": '["resident"]',
        "extra": '{"iucn":"LC"}',
        "active": None,
    }
    assert frame.row(1, named=True)["active"] == "true"
    [entry] = ctx.lineage["inputs"]
    assert entry["uri"] == url and entry["rows"] == 2
    body = json.dumps({"data": {"records": SPECIES}}).encode()
    assert entry["sha256"] == sha256_bytes(body)
    # The secret is sent, never recorded.
    assert TOKEN not in json.dumps([ctx.lineage, result.details, ctx.log_lines, ctx.params])


def test_without_the_token_the_api_refuses_and_that_is_not_retried(make_ctx, api, monkeypatch):
    monkeypatch.setenv("BIRDIE_TOKEN", "wrong")
    with pytest.raises(StepError, match="answered HTTP 401") as raised:
        fetch(make_ctx, url=f"{api}/species", credential="birdie")
    assert not isinstance(raised.value, TransientStepError)


def test_a_missing_token_variable_is_a_clear_error(make_ctx, api, monkeypatch):
    monkeypatch.delenv("BIRDIE_TOKEN", raising=False)
    with pytest.raises(StepError, match="credential 'birdie' has no value on this worker: its "
                       "environment variable BIRDIE_TOKEN is not set"):
        fetch(make_ctx, url=f"{api}/species", credential="birdie")


def test_an_undeclared_credential_or_a_host_outside_its_hosts_is_refused(make_ctx, api,
                                                                           monkeypatch):
    monkeypatch.setenv("BIRDIE_TOKEN", TOKEN)
    with pytest.raises(StepError, match="unknown credential 'gbif'; declared: birdie"):
        fetch(make_ctx, url=f"{api}/species", credential="gbif")
    elsewhere = Credential("birdie", "BIRDIE_TOKEN", (parse_host("api.birdie.org"),))
    with pytest.raises(StepError, match="may be sent only to api.birdie.org"):
        fetch(make_ctx, url=f"{api}/species", credential="birdie",
              credentials={"birdie": elsewhere})


def test_top_level_list_and_csv_answers(make_ctx, api):
    _, sites = fetch(make_ctx, url=f"{api}/sites")
    assert sites.tables["data"].to_dicts() == [{"site": "ZA-0001", "lat": "-25.1"}]
    _, abundance = fetch(make_ctx, url=f"{api}/abundance.csv", format="csv", **{"as": "abundance"})
    assert abundance.tables["abundance"].get_column("count").to_list() == ["4", None]


def test_an_object_answer_needs_a_records_path(make_ctx, api, monkeypatch):
    monkeypatch.setenv("BIRDIE_TOKEN", TOKEN)
    with pytest.raises(StepError, match=r"not a list of records \(found: data\); set records_path"):
        fetch(make_ctx, url=f"{api}/species", credential="birdie")
    with pytest.raises(StepError, match=r"records_path 'data.rows' not found \(has: records\)"):
        fetch(make_ctx, url=f"{api}/species", credential="birdie", records_path="data.rows")


def test_a_host_outside_the_allow_list_is_refused(make_ctx, api):
    with pytest.raises(
        StepError, match=r"host '127.0.0.1' is not in the HTTP allow-list \(empty\)"
    ):
        fetch(make_ctx, allowlist=(), url=f"{api}/sites")
    with pytest.raises(StepError, match="not in the HTTP allow-list"):
        fetch(make_ctx, allowlist=("api.birdie.org.za",), url=f"{api}/sites")


def test_redirects_stay_within_the_allow_list(make_ctx, api):
    with pytest.raises(StepError, match="host 'evil.example.org' is not in the HTTP allow-list"):
        fetch(make_ctx, url=f"{api}/redirect-out")
    _, followed = fetch(make_ctx, url=f"{api}/redirect-in")
    assert followed.rows_out == 1


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed"])
def test_answers_over_max_bytes_are_refused(make_ctx, api, path):
    with pytest.raises(StepError, match=r"exceeds max_bytes .* > 1,000 bytes"):
        fetch(make_ctx, url=f"{api}{path}", max_bytes=1000)
    _, result = fetch(make_ctx, url=f"{api}{path}", max_bytes=20_000)
    assert result.rows_out == 1001


def test_server_errors_and_rate_limits_are_transient(make_ctx, api):
    with pytest.raises(TransientStepError, match="answered HTTP 503"):
        fetch(make_ctx, url=f"{api}/broken")
    with pytest.raises(TransientStepError, match="answered HTTP 429"):
        fetch(make_ctx, url=f"{api}/busy")


def test_a_missing_endpoint_is_a_permanent_error(make_ctx, api):
    with pytest.raises(StepError, match="answered HTTP 404") as raised:
        fetch(make_ctx, url=f"{api}/nowhere")
    assert not isinstance(raised.value, TransientStepError)


def test_connection_refused_and_timeouts_are_transient(make_ctx, api):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(TransientStepError, match="cannot connect"):
        fetch(make_ctx, url=f"http://127.0.0.1:{closed_port}/sites")
    with pytest.raises(TransientStepError, match="timed out"):
        fetch(make_ctx, url=f"{api}/slow", timeout_seconds=1)


def test_an_answer_that_is_not_json_is_a_clear_error(make_ctx, api):
    with pytest.raises(StepError, match="the answer is not valid JSON"):
        fetch(make_ctx, url=f"{api}/not-json")


def test_records_that_are_not_objects_are_a_clear_error(make_ctx, api):
    with pytest.raises(StepError, match="records must all be JSON objects"):
        fetch(make_ctx, url=f"{api}/numbers")


def test_replay_reads_the_recorded_answer_without_the_network(make_ctx, api, tmp_path):
    url = f"{api}/sites"
    ctx, first = fetch(make_ctx, url=url)
    digest = first.details["sha256"]
    recorded = tmp_path / "store" / digest[:2] / digest
    assert recorded.is_file()
    # No allow-list, no server involved: the recorded bytes are read.
    _, replayed = fetch(make_ctx, allowlist=(), url=url, replay_inputs={url: recorded})
    assert replayed.output_fingerprint == first.output_fingerprint
