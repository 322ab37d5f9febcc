"""Secrets stay secret: a pipeline names a declared credential, sent only to its hosts.

Two real HTTP servers on 127.0.0.1 (threads): ``declared`` is the credential's host,
``other`` is allow-listed but not declared for it. What each server *received* is
what the tests assert on. Runs go through the real runner (``execute_run``).
"""

from __future__ import annotations

import html
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config import TestingConfig
from jobs.tasks import execute_run
from portal import create_app
from portal.credentials import CredentialConfigError
from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.services import DomainError
from portal.services.programme_edit import ProgrammeChanges, ValidationFailed, update_programme
from portal.services.runs import queue_run
from tests.conftest import REDIS_URL
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

TOKEN = "birdie-token-5f2a"
RECORDS = [{"site": "ZA-0001", "species": "Passer melba", "count": 3}]


class Server:
    """A local HTTP server that records the Authorization header of every request."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str | None]] = []
        self.redirect_to: str | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.received.append((self.path, self.headers.get("Authorization")))
                if self.path == "/hop" and server.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", server.redirect_to)
                    self.end_headers()
                    return
                body = json.dumps(RECORDS).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    declared, other = Server(), Server()
    yield declared, other
    declared.close()
    other.close()


@pytest.fixture
def app_config(app_config, servers):
    """Credential ``birdie`` (BIRDIE_TOKEN) for the declared server only; both allow-listed."""
    declared, _ = servers
    return {**app_config, "HTTP_ALLOWLIST": ["127.0.0.1"],
            "PORTAL_CREDENTIALS": json.dumps(
                {"birdie": {"env": "BIRDIE_TOKEN", "hosts": [f"127.0.0.1:{declared.port}"]}})}


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("BIRDIE_TOKEN", TOKEN)


def http_pipeline(url: str, **params) -> dict:
    return {"steps": [{"key": "fetch", "type": "ingest.http", "retries": 0,
                       "params": {"url": url, **params}}]}


def run_stored(definition: dict) -> MonitoringProgrammeRun:
    """Run a definition stored as-is (as an old programme would hold it) through the runner."""
    programme = gen_programme(pipeline_definition_json=definition)
    run = gen_run(programme, status="queued")
    execute_run(run.id)
    db.session.rollback()
    return db.session.get(MonitoringProgrammeRun, run.id, populate_existing=True)


def save(programme, definition: dict) -> None:
    owner = gen_user()
    update_programme(programme, owner, ProgrammeChanges(
        title=programme.title, description="", refresh_cadence="manual", timezone="UTC",
        scheduler_enabled=False, pipeline_definition=json.dumps(definition),
        data_quality_rules=json.dumps({"rules": []}), lineage_notes=""))


# --- the deployment cannot declare a portal setting as a credential ------------------


@pytest.mark.parametrize("variable", [
    "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "METRICS_TOKEN",
    "DATA_ROOT", "HTTP_ALLOWLIST", "SQLALCHEMY_DATABASE_URI", "PORTAL_CREDENTIALS",
    "FLASK_SECRET_KEY", "MAIL_PASSWORD", "SMTP_PASSWORD", "PGPASSWORD", "POSTGRES_PASSWORD",
])
def test_a_credential_naming_a_portal_setting_stops_the_start(variable):
    declaration = {"leak": {"env": variable, "hosts": ["127.0.0.1"]}}
    with pytest.raises(CredentialConfigError, match=rf"credential 'leak': refused: {variable}"):
        create_app("testing", {"HTTP_ALLOWLIST": ["127.0.0.1"],
                               "PORTAL_CREDENTIALS": json.dumps(declaration)})


def test_a_credential_holding_the_secret_key_value_stops_the_start(monkeypatch):
    monkeypatch.setenv("INNOCENT_TOKEN", TestingConfig.SECRET_KEY)
    declaration = {"sneaky": {"env": "INNOCENT_TOKEN", "hosts": ["127.0.0.1"]}}
    with pytest.raises(CredentialConfigError,
                       match="credential 'sneaky': refused: INNOCENT_TOKEN holds the same value "
                             "as the portal's SECRET_KEY"):
        create_app("testing", {"HTTP_ALLOWLIST": ["127.0.0.1"],
                               "PORTAL_CREDENTIALS": declaration})


@pytest.mark.parametrize(("hosts", "message"), [
    (["*.birdie.org"], "is not an exact host name"),
    (["https://api.birdie.org/"], "is not an exact host name"),
    (["api.birdie.org"], r"host api.birdie.org is not in HTTP_ALLOWLIST \(127.0.0.1\)"),
    ([], "hosts must be a non-empty list"),
])
def test_credential_hosts_are_exact_and_allow_listed(hosts, message):
    declaration = {"birdie": {"env": "BIRDIE_TOKEN", "hosts": hosts}}
    with pytest.raises(CredentialConfigError, match=message):
        create_app("testing", {"HTTP_ALLOWLIST": ["127.0.0.1"],
                               "PORTAL_CREDENTIALS": declaration})


def test_credentials_can_come_from_a_file(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"gbif": {"env": "GBIF_TOKEN", "hosts": ["api.gbif.org"]}}))
    app = create_app("testing", {"HTTP_ALLOWLIST": ["api.gbif.org"],
                                 "PORTAL_CREDENTIALS_FILE": str(path)})
    assert app.extensions["portal_credentials"]["gbif"].env == "GBIF_TOKEN"
    path.write_text("{not json")
    with pytest.raises(CredentialConfigError, match=r"PORTAL_CREDENTIALS_FILE \(.*\): not "
                                                    "valid JSON"):
        create_app("testing", {"PORTAL_CREDENTIALS_FILE": str(path)})


# --- a pipeline cannot name a variable, an unknown credential or another host -------------


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL", "BIRDIE_TOKEN"])
def test_token_env_is_refused_at_save_and_at_run(app, servers, variable):
    declared, other = servers
    definition = http_pipeline(f"{declared.url}/species", token_env=variable)
    with pytest.raises(ValidationFailed) as refused:
        save(gen_programme(), definition)
    [message] = refused.value.errors["pipeline_definition"]
    assert message.startswith("$.steps[0].params.token_env: token_env is no longer accepted")
    assert "declare one in PORTAL_CREDENTIALS" in message

    run = run_stored(definition)  # a programme saved before credentials existed
    assert run.status == "failed"
    assert "$.steps[0].params.token_env: token_env is no longer accepted" in run.error_message
    assert declared.received == [] and other.received == []


def test_an_unknown_credential_is_refused_with_its_json_path(app, servers):
    declared, _ = servers
    definition = {"steps": [
        {"key": "sites", "type": "ingest.http", "params": {"url": f"{declared.url}/sites"}},
        {"key": "fetch", "type": "ingest.http",
         "params": {"url": f"{declared.url}/species", "credential": "x"}}]}
    with pytest.raises(ValidationFailed) as refused:
        save(gen_programme(), definition)
    assert refused.value.errors["pipeline_definition"] == [
        "$.steps[1].params.credential: unknown credential 'x'; declared: birdie"]


def test_the_edit_form_names_the_field_and_the_path(app, client, auth, servers):
    declared, other = servers
    programme = gen_programme()
    steward = gen_user()
    gen_steward(programme, steward, "steward")
    auth.login(steward.email)
    response = auth.post(f"/programmes/{programme.code}/edit", data={
        "title": programme.title, "refresh_cadence": "manual", "timezone": "UTC",
        "pipeline_definition": json.dumps(http_pipeline(f"{other.url}/d", credential="birdie")),
        "data_quality_rules": json.dumps({"rules": []})})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert (f"$.steps[0].params.credential: credential 'birdie' may be sent only to "
            f"127.0.0.1:{declared.port}; the url's host 127.0.0.1:{other.port} is not one of "
            "them") in page


def test_a_credential_for_an_undeclared_host_is_refused_at_save_queue_and_run(app, servers):
    declared, other = servers
    definition = http_pipeline(f"{other.url}/data", credential="birdie")
    programme = gen_programme()
    with pytest.raises(ValidationFailed, match="may be sent only to"):
        save(programme, definition)
    stored = gen_programme(pipeline_definition_json=definition)
    with pytest.raises(DomainError, match="credential 'birdie' may be sent only to"):
        queue_run(stored, None, run_type="full", dry_run=False, trigger="integration")

    run = run_stored(definition)
    assert run.status == "failed"
    assert f"the url's host 127.0.0.1:{other.port} is not one of them" in run.error_message
    assert other.received == [] and declared.received == []


def test_a_redirect_off_the_declared_host_does_not_carry_the_credential(app, servers):
    declared, other = servers
    declared.redirect_to = f"{other.url}/elsewhere"
    run = run_stored(http_pipeline(f"{declared.url}/hop", credential="birdie"))

    assert run.status == "succeeded", run.error_message
    assert declared.received == [("/hop", f"Bearer {TOKEN}")]
    assert other.received == [("/elsewhere", None)]  # followed, but without the token
    assert "the credential is not sent there" in run.steps[0].log_excerpt


def test_a_valid_credential_is_sent_to_its_host_and_never_recorded(app, servers):
    declared, other = servers
    run = run_stored(http_pipeline(f"{declared.url}/species", credential="birdie"))

    assert run.status == "succeeded", run.error_message
    assert declared.received == [("/species", f"Bearer {TOKEN}")] and other.received == []
    assert run.steps[0].rows_out == 1
    recorded = json.dumps([run.lineage_json, run.input_summary_json, run.output_summary_json,
                           run.steps[0].details_json, run.steps[0].log_excerpt], default=str)
    assert TOKEN not in recorded


def test_an_unset_credential_fails_the_run_naming_the_credential(app, servers, monkeypatch):
    declared, _ = servers
    monkeypatch.delenv("BIRDIE_TOKEN")
    run = run_stored(http_pipeline(f"{declared.url}/species", credential="birdie"))
    assert run.status == "failed"
    assert ("credential 'birdie' has no value on this worker: its environment variable "
            "BIRDIE_TOKEN is not set") in run.error_message
    assert declared.received == []


# --- passwords in URLs are masked where they are shown or logged ----------------------


def test_health_page_and_metrics_mask_redis_and_database_passwords(app, client, auth):
    # The test Redis has no password: redis-py's AUTH with one still succeeds there.
    redis_url = app.config["REDIS_URL"].replace("redis://", "redis://default:hunter2@", 1)
    app.config["REDIS_URL"] = redis_url
    admin = gen_user(is_admin=True)
    auth.login(admin.email)
    page = client.get("/health").get_data(as_text=True)
    assert "hunter2" not in page
    assert "redis://default:***@" in page and 'id="connections"' in page
    assert "hunter2" not in client.get("/metrics").get_data(as_text=True)

    app.config["REDIS_URL"] = "redis://:hunter2@127.0.0.1:1/0"  # unreachable
    page = client.get("/health").get_data(as_text=True)
    assert "Queue unreachable" in page and "redis://:***@127.0.0.1:1/0" in page
    assert "hunter2" not in page


def test_health_page_hides_connections_from_non_admins(app, client, auth):
    user = gen_user()
    auth.login(user.email)
    assert 'id="connections"' not in client.get("/health").get_data(as_text=True)


def test_log_records_mask_url_passwords(app, caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything").warning(
            "cannot reach %s", "postgresql+psycopg://portal:hunter2@db:5432/portal")
    assert "hunter2" not in caplog.text
    assert "postgresql+psycopg://portal:***@db:5432/portal" in caplog.text


@pytest.mark.parametrize("process", ["worker", "scheduler"])
def test_worker_and_scheduler_start_up_lines_mask_passwords(process, tmp_path):
    """A real ``flask jobs <process> --burst`` whose database refuses: nothing leaks."""
    root = Path(__file__).resolve().parents[2]
    redis_url = REDIS_URL.replace("redis://", "redis://default:hunter2@", 1)
    env = {**os.environ, "PORTAL_ENV": "testing", "FLASK_APP": "wsgi", "PYTHONPATH": str(root),
           "REDIS_URL": redis_url, "DATA_ROOT": str(tmp_path),
           "TEST_DATABASE_URL": "postgresql+psycopg://portal:hunter2@127.0.0.1:1/portal"}
    done = subprocess.run([sys.executable, "-m", "flask", "jobs", process, "--burst"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert output.startswith(f"{process}: redis redis://default:***@")
    assert "database postgresql+psycopg://portal:***@127.0.0.1:1/portal" in output
    assert "hunter2" not in output


MASKED = [
    ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("redis://default:hun%40ter2@redis:6379/0", "redis://default:***@redis:6379/0"),
    ("postgresql+psycopg://portal:hunter2@db:5432/portal",
     "postgresql+psycopg://portal:***@db:5432/portal"),
    ("postgresql://portal@db/portal?password=hunter2&sslmode=require",
     "postgresql://portal@db/portal?password=***&sslmode=require"),
    ("sqlite:////srv/portal.sqlite3", "sqlite:////srv/portal.sqlite3"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
]


@pytest.mark.parametrize(("url", "expected"), MASKED)
def test_mask_url_in_python_and_in_the_scripts_echo_lines(url, expected):
    from portal.redact import mask_url

    assert mask_url(url) == expected
    root = Path(__file__).resolve().parents[2]
    shell = subprocess.run(["bash", "-c", 'PY=true; source scripts/lib.sh; mask_url "$1"',
                            "bash", url], cwd=root, capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == expected
