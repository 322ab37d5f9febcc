"""Sign-in never answers 5xx while other processes write to the database.

On SQLite, sign-in used to read the user, hash, then upgrade to a write; when a
worker wrote in between, SQLite refused the upgrade at once ("database is
locked", a 500). Sign-in now takes the write lock up front and waits for it.
The portal runs here under a real threaded HTTP server while a writer thread (on
its own connections, as a worker process would be) writes in a loop.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import insert, update
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import AuditEvent, User, utcnow
from tests.factories import PASSWORD, gen_user

CLIENTS = 4
SIGN_INS_PER_CLIENT = 6
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def app_config(app_config):
    """Serve on 127.0.0.1: no SERVER_NAME to match."""
    app_config.pop("SERVER_NAME", None)
    return app_config


def _write_in_a_loop(engine, stop: threading.Event, bystander_id: int, writes: list[int]) -> None:
    """Short write transactions back to back, each holding the lock a few milliseconds."""
    immediate = engine.execution_options(sqlite_immediate=True)  # BEGIN IMMEDIATE on SQLite
    while not stop.is_set():
        with immediate.begin() as conn:
            conn.execute(insert(AuditEvent).values(
                action="load_test_write", object_type="test", actor_label="system",
                metadata_json={}, created_at=utcnow()))
            conn.execute(update(User).where(User.id == bystander_id)
                         .values(last_login_at=utcnow()))
            time.sleep(0.005)
        writes.append(1)
        time.sleep(0.003)


def _sign_in_repeatedly(base: str, email: str, statuses: Counter, sign_ins: list[int]) -> None:
    for _ in range(SIGN_INS_PER_CLIENT):
        browser = requests.Session()
        browser.trust_env = False
        page = browser.get(f"{base}/login", timeout=60)
        statuses[page.status_code] += 1
        token = CSRF.search(page.text).group(1)
        answer = browser.post(f"{base}/login", timeout=60, allow_redirects=False,
                              data={"email": email, "password": PASSWORD, "csrf_token": token})
        statuses[answer.status_code] += 1
        if answer.status_code == 302:
            sign_ins.append(1)
        home = browser.get(f"{base}/", timeout=60, allow_redirects=False)
        statuses[home.status_code] += 1


def test_sign_in_under_write_load_never_answers_5xx(app):
    emails = [gen_user(f"load{n}@example.org").email for n in range(CLIENTS)]
    bystander = gen_user("bystander@example.org").id
    engine = db.engine
    db.session.commit()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    stop, writes = threading.Event(), []
    writer = threading.Thread(target=_write_in_a_loop, args=(engine, stop, bystander, writes),
                              daemon=True)
    writer.start()
    statuses: Counter = Counter()
    sign_ins: list[int] = []
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        clients = [threading.Thread(target=_sign_in_repeatedly,
                                    args=(base, email, statuses, sign_ins))
                   for email in emails]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
    finally:
        stop.set()
        writer.join()
        server.shutdown()
        serving.join()

    errors = {status: count for status, count in statuses.items() if status >= 500}
    assert errors == {}, f"5xx answers under write load: {dict(statuses)}"
    assert len(sign_ins) == CLIENTS * SIGN_INS_PER_CLIENT, dict(statuses)
    assert statuses[200] >= 2 * CLIENTS * SIGN_INS_PER_CLIENT  # sign-in pages and home pages
    assert len(writes) > 0  # the writer really wrote while people signed in
