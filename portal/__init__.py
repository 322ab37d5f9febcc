"""Programme Ops: the application factory."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, request
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from config import CONFIGS
from portal import dbutil
from portal.extensions import csrf, db, htmx, login_manager, migrate


def create_app(config_name: str | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the portal.

    Args:
        config_name: development, testing or production; defaults to ``PORTAL_ENV``.
        test_config: settings that override the configuration class (tests).

    Returns:
        The Flask application.
    """
    name = config_name or os.environ.get("PORTAL_ENV", "development")
    config_class = CONFIGS[name]
    if hasattr(config_class, "check"):
        config_class.check()
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    app.config.from_object(config_class)
    if test_config:
        app.config.update(test_config)
    app.config["PORTAL_ENV"] = name
    os.makedirs(app.instance_path, exist_ok=True)
    from portal import credentials, redact

    redact.install_log_masking()
    credentials.init_app(app)  # a wrong credential declaration stops the start, named

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    from portal import request_guards

    request_guards.init_app(app)  # before the blueprints: it bounds the <int:> converter
    _configure_sqlite(app)
    _configure_pool_ping(app)
    _track_writes(app)

    from portal import errors, security
    from portal.admin import bp as admin_bp
    from portal.api import bp as api_bp
    from portal.auth import bp as auth_bp
    from portal.cli import register_cli
    from portal.programmes import bp as programmes_bp
    from portal.template_helpers import register_template_helpers

    app.register_blueprint(auth_bp)
    app.register_blueprint(programmes_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    from portal.account import bp as account_bp
    from portal.alerts import bp as alerts_bp
    from portal.audit import bp as audit_bp
    from portal.authoring import bp as authoring_bp
    from portal.health import bp as health_bp
    from portal.metrics import bp as metrics_bp
    from portal.runs import bp as runs_bp

    for blueprint in (runs_bp, alerts_bp, audit_bp, metrics_bp, health_bp, account_bp,
                      authoring_bp):
        app.register_blueprint(blueprint)
    from portal.notifications import bp as notifications_bp

    app.register_blueprint(notifications_bp)
    errors.init_app(app)
    security.init_app(app)
    register_cli(app)
    register_template_helpers(app)

    @app.before_request
    def assign_request_id() -> None:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied[:64] if supplied else uuid.uuid4().hex

    return app


def _configure_pool_ping(app: Flask) -> None:
    """Ping a pooled PostgreSQL connection before use only when it has been idle.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout: a request
    checks out once, but a run checks out for each of its transactions, milliseconds
    apart. A connection back in the pool for less than DB_PING_AFTER_IDLE_SECONDS
    (1 s) was just working; an older one is pinged, and one that fails the ping is
    replaced before anyone uses it (SQLAlchemy's recipe: raise DisconnectionError on
    checkout). SQLite has no server to lose: nothing is pinged.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        return
    idle = float(app.config["DB_PING_AFTER_IDLE_SECONDS"])

    @event.listens_for(engine, "checkin")
    def stamp_idle_since(dbapi_connection, connection_record):  # noqa: ARG001
        connection_record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, connection_record, connection_proxy):  # noqa: ARG001
        since = connection_record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle:
            return  # just opened (the connect proved it), or just used
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"pooled connection failed its ping: {error}") from error
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")


def _track_writes(app: Flask) -> None:
    """Note on a PostgreSQL connection when its transaction may have written; let page
    requests (GET, HEAD) read without a transaction until they write.

    ``dbutil.begin_write`` lets a transaction that has only read go on as a write
    transaction; anything but a plain SELECT counts as a write (DML, DDL, a CTE, a
    function called through text, and a SELECT that locks rows: FOR UPDATE / SHARE).
    The mark goes when the transaction ends, or when the pool resets the connection.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        return

    @event.listens_for(engine, "before_cursor_execute")
    def note_write(connection, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if statement.lstrip()[:6].upper() != "SELECT" or " FOR " in statement[-160:].upper():
            if connection.info.pop(dbutil.READING, False):
                # A page's reads ran outside a transaction; from this first statement that
                # may write on, it is one (psycopg sends BEGIN before it), committed or
                # rolled back by the session as any other.
                connection.connection.dbapi_connection.autocommit = False
            connection.info[dbutil.WROTE] = True

    @event.listens_for(engine, "checkout")
    def read_without_a_transaction(dbapi_connection, connection_record, connection_proxy):  # noqa: ARG001
        """A GET or HEAD reads outside a transaction: no BEGIN and no ROLLBACK, two round
        trips of a page's five to ten. Under READ COMMITTED each statement of a
        transaction sees what is committed when it runs, so the reads see what they would
        have seen; a statement that may write (or lock rows) still starts a transaction
        first (``note_write``). Decided when the request first takes a connection, so a
        request that reads nothing (a static file) takes none."""
        if has_request_context() and request.method in ("GET", "HEAD"):
            dbapi_connection.autocommit = True
            connection_record.info[dbutil.READING] = True

    @event.listens_for(engine, "checkin")
    def back_to_transactions(dbapi_connection, connection_record):
        """Whatever a request did, the connection goes back to the pool transactional
        (``connection_reset`` forgets the request's marks)."""
        if dbapi_connection is not None and dbapi_connection.autocommit:
            dbapi_connection.autocommit = False

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def transaction_ended(connection):
        if not connection.invalidated:  # a lost connection's record is reset by the pool
            connection.info.pop(dbutil.WROTE, None)

    @event.listens_for(engine, "reset")
    def connection_reset(dbapi_connection, connection_record, reset_state):  # noqa: ARG001
        connection_record.info.pop(dbutil.WROTE, None)
        connection_record.info.pop(dbutil.READING, None)


def _configure_sqlite(app: Flask) -> None:
    """WAL and a busy timeout: web, worker and scheduler write to one SQLite file at once.

    pysqlite's own transaction handling is switched off so that SQLAlchemy emits
    ``BEGIN`` itself — and ``BEGIN IMMEDIATE`` for write transactions started with
    ``portal.dbutil.begin_write()``, which take the write lock up front instead of
    failing with "database is locked" when a read transaction tries to upgrade.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        configure_sqlite_engine(db.engine, int(app.config["SQLITE_BUSY_TIMEOUT_MS"]))


def configure_sqlite_engine(engine: Engine, timeout_ms: int) -> None:
    """The app's SQLite settings on ``engine`` (also the worker's rehearsal database)."""
    @event.listens_for(engine, "connect")
    def set_sqlite_pragmas(dbapi_connection, connection_record):  # noqa: ARG001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin_transaction(connection):
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
