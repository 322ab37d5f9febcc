"""Notification fixtures: a real SMTP server (aiosmtpd) and a real HTTP receiver, both
in-process on free local ports, and a programme with a user per role."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from rq import Queue

from tests.conftest import REDIS_URL, settings_for
from tests.engine.conftest import start_worker, stop_process_group
from tests.factories import gen_institution, gen_programme, gen_steward, gen_user


def free_port() -> int:
    """A TCP port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it accepted."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd API
        parsed = email.message_from_bytes(envelope.original_content or envelope.content,
                                          policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def recipients(self) -> list[str]:
        """Every envelope recipient, in order."""
        return [to for tos, _ in self.messages for to in tos]


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 (no TLS) and what it received."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


class Receiver:
    """A local HTTP server answering POSTs with scripted statuses, recording requests."""

    def __init__(self):
        self.statuses: list[int] = []
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def documents(self) -> list[dict]:
        """The JSON bodies received."""
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1."""
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def app_config(tmp_path, smtp):
    """The app under test sends mail to the in-process SMTP server."""
    return {**settings_for(tmp_path), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port,
            "SMTP_SECURITY": "none", "SMTP_FROM": "Programme Ops <ops@portal.test>",
            "PORTAL_BASE_URL": "https://portal.test", "HTTP_ALLOWLIST": ["127.0.0.1"],
            "NOTIFY_RETRY_BASE_SECONDS": 60, "NOTIFY_MAX_ATTEMPTS": 3}


#: The settings a notification job reads, passed to the worker process as the app has
#: them when a test drains the queue (a test may change one first, e.g. SMTP_PORT).
WORKER_SETTINGS = ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_FROM", "PORTAL_BASE_URL",
                   "HTTP_ALLOWLIST", "NOTIFY_RETRY_BASE_SECONDS", "NOTIFY_MAX_ATTEMPTS",
                   "NOTIFY_ESCALATE_AFTER_HOURS")


def run_burst_worker(app, root, queues: str = "high,default") -> None:
    """Run ``flask jobs worker --burst`` on ``queues`` as a real worker process,
    configured like ``app`` (whose folders live under ``root``), until the queues are
    empty."""
    settings = {}
    for name in WORKER_SETTINGS:
        value = app.config.get(name)
        settings[name] = (",".join(value) if isinstance(value, list | tuple)
                          else "" if value is None else str(value))
    worker = start_worker(root, "--burst", "--queues", queues, **settings)
    try:
        assert worker.wait(timeout=120) == 0, "the burst worker failed (see its log)"
    finally:
        stop_process_group(worker)


@pytest.fixture
def drain(app, tmp_path):
    """Run every notification job waiting in Redis with a real worker process (burst)."""
    Queue("default", connection=Redis.from_url(REDIS_URL)).empty()  # none from another test
    return lambda: run_burst_worker(app, tmp_path, "default")


@pytest.fixture
def people(app):
    """Programme BIRDS (operated by institution A) with a user per role, another
    institution's member, and programme FISH elsewhere."""
    inst_a, inst_b = gen_institution("INSTA"), gen_institution("INSTB")
    birds = gen_programme("BIRDS", institutions=[inst_a], title="Breeding birds")
    fish = gen_programme("FISH", institutions=[inst_b])
    users = {role: gen_user(f"{role}@x.org") for role in
             ("owner", "steward", "operator", "reviewer")}
    for role, user in users.items():
        gen_steward(birds, user, role)
    users["member"] = gen_user("member@x.org", institutions=[inst_a])
    users["other_member"] = gen_user("other@x.org", institutions=[inst_b])
    users["admin"] = gen_user("admin@x.org", is_admin=True)
    return {"birds": birds, "fish": fish, "users": users}
