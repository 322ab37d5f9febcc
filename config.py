"""Configuration classes, read from the environment (see .env.example)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def _code_version() -> str:
    """The git commit of this checkout (recorded in lineage), else the package version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=BASE_DIR,
            capture_output=True, text=True, timeout=5, check=True)
        return described.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("programme-ops")
        except PackageNotFoundError:
            return "unknown"


class Config:
    """Defaults shared by every environment."""

    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.sqlite3'}"
    )
    # A pooled server connection idle longer than this is pinged before use (portal
    # ._configure_pool_ping), so one lost to a database restart is replaced unseen.
    DB_PING_AFTER_IDLE_SECONDS = float(os.environ.get("DB_PING_AFTER_IDLE_SECONDS", 1.0))
    SQLITE_BUSY_TIMEOUT_MS = _env_int("SQLITE_BUSY_TIMEOUT_MS", 15000)
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    DATA_ROOT = os.environ.get("DATA_ROOT", str(INSTANCE_DIR / "data"))
    PUBLISH_ROOT = os.environ.get("PUBLISH_ROOT", str(INSTANCE_DIR / "releases"))
    WORK_ROOT = os.environ.get("WORK_ROOT", str(INSTANCE_DIR / "runs"))
    LINEAGE_STORE = os.environ.get("LINEAGE_STORE", str(INSTANCE_DIR / "lineage-store"))
    # Under WORK_ROOT/<run>/: step outputs (Parquet, for "resume from step") and full
    # step logs are kept this many days after the run ends (`flask ops cleanup-work`).
    STEP_OUTPUT_RETENTION_DAYS = _env_int("STEP_OUTPUT_RETENTION_DAYS", 14)
    STEP_LOG_RETENTION_DAYS = _env_int("STEP_LOG_RETENTION_DAYS", 90)
    HTTP_ALLOWLIST = _env_list("HTTP_ALLOWLIST")
    # Named credentials a pipeline may send (portal/credentials.py): JSON
    # {"name": {"env": "VARIABLE", "hosts": ["host[:port]", ...]}}, inline and/or in a file.
    PORTAL_CREDENTIALS = os.environ.get("PORTAL_CREDENTIALS") or None
    PORTAL_CREDENTIALS_FILE = os.environ.get("PORTAL_CREDENTIALS_FILE") or None
    OPENLINEAGE_URL = os.environ.get("OPENLINEAGE_URL") or None
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    # Notifications (docs/notifications.md): e-mail over SMTP, links back to the portal.
    SMTP_HOST = os.environ.get("SMTP_HOST") or None
    SMTP_PORT = _env_int("SMTP_PORT", 0)  # 0: 587 for starttls, 465 for ssl, 25 for none
    SMTP_SECURITY = os.environ.get("SMTP_SECURITY", "starttls")  # starttls | ssl | none
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME") or None
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD") or None
    SMTP_FROM = os.environ.get("SMTP_FROM", "Programme Ops <programme-ops@localhost>")
    SMTP_TIMEOUT_SECONDS = float(os.environ.get("SMTP_TIMEOUT_SECONDS", 20))
    SMTP_CA_FILE = os.environ.get("SMTP_CA_FILE") or None  # a private CA for the relay
    PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://localhost:8000")
    NOTIFY_MAX_ATTEMPTS = _env_int("NOTIFY_MAX_ATTEMPTS", 8)
    NOTIFY_RETRY_BASE_SECONDS = float(os.environ.get("NOTIFY_RETRY_BASE_SECONDS", 60))
    NOTIFY_ESCALATE_AFTER_HOURS = float(os.environ.get("NOTIFY_ESCALATE_AFTER_HOURS", 24))
    NOTIFY_DIGEST_HOUR_UTC = _env_int("NOTIFY_DIGEST_HOUR_UTC", 7)

    # Run engine
    RUN_HEARTBEAT_SECONDS = _env_int("RUN_HEARTBEAT_SECONDS", 5)
    RUN_STALE_AFTER_SECONDS = _env_int("RUN_STALE_AFTER_SECONDS", 60)
    STEP_TIMEOUT_SECONDS = _env_int("STEP_TIMEOUT_SECONDS", 1800)
    RUN_JOB_TIMEOUT_SECONDS = _env_int("RUN_JOB_TIMEOUT_SECONDS", 6 * 3600)
    SCHEDULER_INTERVAL_SECONDS = _env_int("SCHEDULER_INTERVAL_SECONDS", 60)
    RUN_CANCEL_GRACE_SECONDS = _env_int("RUN_CANCEL_GRACE_SECONDS", 30)
    RUN_DISPATCH_GRACE_SECONDS = _env_int("RUN_DISPATCH_GRACE_SECONDS", 10)
    # A run lost to infrastructure is retried after this, doubled per further attempt.
    RUN_RETRY_BACKOFF_SECONDS = float(os.environ.get("RUN_RETRY_BACKOFF_SECONDS", 30))
    # SIGTERM: the current step may finish within this; then the run is handed back to
    # the queue (keep it below the stop grace period of the process manager, e.g. compose).
    WORKER_STOP_GRACE_SECONDS = float(os.environ.get("WORKER_STOP_GRACE_SECONDS", 240))
    # Keep a standby work horse forked and warmed while the worker waits (jobs.worker).
    WORKER_PREFORK = _env_bool("WORKER_PREFORK", True)
    # Back-off cap of the scheduler and workers while Redis or the database is down.
    OUTAGE_BACKOFF_MAX_SECONDS = float(os.environ.get("OUTAGE_BACKOFF_MAX_SECONDS", 30))
    # How long a worker waits at a step boundary for the database to come back.
    RUN_DB_WAIT_SECONDS = float(os.environ.get("RUN_DB_WAIT_SECONDS", 300))
    STEP_RETRY_BASE_SECONDS = float(os.environ.get("STEP_RETRY_BASE_SECONDS", 2))
    CODE_VERSION = os.environ.get("CODE_VERSION") or _code_version()

    # Sign-in
    LOGIN_MAX_FAILURES = _env_int("LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCKOUT_MINUTES = _env_int("LOGIN_LOCKOUT_MINUTES", 15)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    MAX_UPLOAD_BYTES = _env_int("MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
    # The whole request may carry a little multipart overhead beyond the file itself.
    MAX_CONTENT_LENGTH = MAX_UPLOAD_BYTES + 64 * 1024
    # JSON request bodies (the API, HTMX posts) are small; larger ones get a JSON 413.
    MAX_JSON_BYTES = _env_int("MAX_JSON_BYTES", 1024 * 1024)
    # Behind a TLS-terminating proxy: trust its X-Forwarded-For/-Proto/-Host (ProxyFix).
    TRUST_PROXY_HEADERS = _env_bool("TRUST_PROXY_HEADERS", False)
    # Strict-Transport-Security value; sent only when set (production only).
    HSTS: str | None = None
    # Zip archives (uploads and ingest): checked from the central directory before any
    # inflating, then counted while inflating (portal/services/safezip.py).
    ZIP_MAX_MEMBERS = _env_int("ZIP_MAX_MEMBERS", 1000)
    ZIP_MAX_MEMBER_BYTES = _env_int("ZIP_MAX_MEMBER_BYTES", 1 << 30)
    ZIP_MAX_TOTAL_BYTES = _env_int("ZIP_MAX_TOTAL_BYTES", 2 << 30)
    ZIP_MAX_RATIO = _env_int("ZIP_MAX_RATIO", 100)
    PAGE_SIZE = 25
    # Adds X-Query-Count (SQL statements per request) to responses: benchmarks and tests.
    SQL_QUERY_COUNT_HEADER = _env_bool("SQL_QUERY_COUNT_HEADER", False)


class DevelopmentConfig(Config):
    """Local development: `make run`."""

    DEBUG = False


class TestingConfig(Config):
    """The test suite: DATABASE_URL and REDIS_URL come from the test harness."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    LOGIN_MAX_FAILURES = 3
    # Fast hashing keeps hundreds of sign-ins in the suite quick; production uses scrypt.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    RUN_HEARTBEAT_SECONDS = 1
    # The fault suite lengthens it for one process (tests/faults).
    RUN_STALE_AFTER_SECONDS = _env_int("TEST_RUN_STALE_AFTER_SECONDS", 5)


class ProductionConfig(Config):
    """Production: every secret and URL must come from the environment."""

    HSTS = os.environ.get("HSTS", "max-age=31536000; includeSubDomains")
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DATA_ROOT", "PUBLISH_ROOT")

    @classmethod
    def check(cls) -> None:
        """Refuse to start when a required variable is missing, naming each one."""
        missing = [name for name in cls.REQUIRED if not os.environ.get(name)]
        if missing:
            raise RuntimeError(
                "Production configuration is incomplete: set "
                + ", ".join(missing)
                + " in the environment (see .env.example)."
            )
        if len(os.environ["SECRET_KEY"]) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters in production.")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
