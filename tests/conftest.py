"""Test fixtures: an app on the harness's database (SQLite or PostgreSQL), real Redis.

``scripts/test.sh`` starts a private Redis and PostgreSQL and runs the suite twice,
with ``TEST_DATABASE_URL`` pointing at SQLite and then PostgreSQL. The schema is
created once per session; each test starts from empty tables.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.extensions import db
from portal.redact import mask_url

# shared/ lies beside the checkout (the developers' machines and CI alike); the
# SHARED_DATA_DIR variable points elsewhere when needed.
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")

DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or "sqlite:///" + str(
    Path(os.environ.get("TMPDIR", "/tmp")) / f"programme-ops-{os.getpid()}.sqlite3"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
IS_POSTGRES = DATABASE_URL.startswith("postgresql")


def pytest_report_header(config):
    return f"database: {mask_url(DATABASE_URL)}  redis: {mask_url(REDIS_URL)}"


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001 — pytest hook
    """Remove the default SQLite file (and its WAL) this process made; a file named by
    TEST_DATABASE_URL belongs to whoever named it (``make test`` removes its own)."""
    if os.environ.get("TEST_DATABASE_URL"):
        return
    database = Path(DATABASE_URL.removeprefix("sqlite:///"))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real datasets in shared/data."""
    assert SHARED_DATA.exists(), f"shared data not found at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def _schema(tmp_path_factory):
    """Create the schema once per session on the test database."""
    roots = tmp_path_factory.mktemp("roots")
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": DATABASE_URL})
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return roots


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if IS_POSTGRES:
        # A worker subprocess of the previous test may still be finishing a job (a
        # notification, a heartbeat); TRUNCATE's exclusive locks can then deadlock
        # against it. PostgreSQL picks one side to fail: try again, it has finished.
        for attempt in range(5):
            try:
                db.session.execute(
                    text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                break
            except OperationalError:
                db.session.rollback()
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


def make_roots(tmp_path_factory, name: str) -> Path:
    """A folder holding empty data, releases, runs and lineage-store folders."""
    root = tmp_path_factory.mktemp(name)
    for folder in ("data", "releases", "runs", "lineage-store"):
        (root / folder).mkdir()
    return root


def settings_for(root: Path) -> dict:
    """The test database, Redis and the data folders under ``root`` as app settings."""
    return {
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DATA_ROOT": str(root / "data"),
        "PUBLISH_ROOT": str(root / "releases"),
        "WORK_ROOT": str(root / "runs"),
        "LINEAGE_STORE": str(root / "lineage-store"),
        "SERVER_NAME": "portal.test",
    }


@pytest.fixture
def app_config(tmp_path) -> dict:
    """Settings of the app under test; tests may add to it before ``app`` is built."""
    return settings_for(tmp_path)


@pytest.fixture
def app(_schema, app_config):
    """A portal app on empty tables."""
    for key in ("DATA_ROOT", "PUBLISH_ROOT", "WORK_ROOT", "LINEAGE_STORE"):
        Path(app_config[key]).mkdir(parents=True, exist_ok=True)
    app = create_app("testing", app_config)

    def fresh_g() -> None:
        # The fixture keeps one app context open for the whole test and Flask reuses it
        # for every test-client request; a real server gives each request a new ``g``
        # (Flask-Login's cached user, per-request caches), so clear it here.
        for name in list(g):
            g.pop(name, None)

    app.before_request_funcs.setdefault(None, []).insert(0, fresh_g)
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class AuthActions:
    """Sign in and out through the real form (with its CSRF token)."""

    def __init__(self, client):
        self._client = client

    def csrf_token(self, path: str = "/login") -> str:
        """Fetch a page and return the CSRF token it carries."""
        page = self._client.get(path).get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, f"no CSRF token on {path}"
        return match.group(1) or match.group(2)

    def login(self, email: str, password: str = "correct-horse-battery"):
        """Sign in; return the response."""
        token = self.csrf_token("/login")
        return self._client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):
        """Sign out through the POST form."""
        token = self.csrf_token("/")
        return self._client.post("/logout", data={"csrf_token": token})

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST a form with a valid CSRF token (as a browser would)."""
        token = self.csrf_token("/")
        return self._client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)

    def post_json(self, path: str, payload: dict | None = None, **kwargs):
        """POST JSON with the CSRF header, as HTMX or the session API would."""
        token = self.csrf_token("/")
        return self._client.post(path, json=payload or {}, headers={"X-CSRFToken": token},
                                 **kwargs)


@pytest.fixture
def auth(client) -> AuthActions:
    """Sign-in helper bound to ``client``."""
    return AuthActions(client)
