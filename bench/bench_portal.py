"""Portal page benchmark: latency and SQL statements per page at scale, under gunicorn.

Seeds 1,000 programmes, 100,000 runs, 400,000 steps and 10,000 alerts with bulk
inserts, serves the portal with gunicorn (2 workers), signs in through the real form
and drives four pages with concurrent keep-alive clients for a fixed time. Prints the
median and p95 latency and the SQL statements per page (``X-Query-Count``), next to the
statements per page on a tiny dataset — the reference for "independent of data size".

    .venv/bin/python bench/bench_portal.py            # a temporary SQLite file
    DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/bench_portal.py
"""

from __future__ import annotations

import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROGRAMMES, RUNS_PER, STEPS_PER, ALERTS = 1_000, 100, 4, 10_000
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 4))
SECONDS = float(os.environ.get("BENCH_SECONDS", 5))
PASSWORD = "bench-password-123"
EMAIL = "operator@bench.org"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _app(url: str):
    from portal import create_app

    return create_app("development", {"SQLALCHEMY_DATABASE_URI": url,
                                      "SQL_QUERY_COUNT_HEADER": True})


def seed(url: str, programmes: int, runs_per: int, steps_per: int, alerts: int) -> dict:
    """Create the schema (migrations) and bulk-insert the dataset; return a page per kind."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from portal.extensions import db
    from portal.models import (
        MonitoringProgramme,
        MonitoringProgrammeAlert,
        MonitoringProgrammeRun,
        MonitoringProgrammeRunStep,
        MonitoringProgrammeSteward,
        User,
    )

    app = _app(url)
    rng = random.Random(7)
    now = datetime.now(UTC)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        user = User(email=EMAIL, name="Bench Operator", active=True)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        session = db.session
        session.execute(insert(MonitoringProgramme), [{
            "code": f"P{n:04d}", "title": f"Programme {n}", "description": "",
            "refresh_cadence": rng.choice(["daily", "weekly", "monthly", "0 6 * * 1"]),
            "timezone": rng.choice(["Europe/Madrid", "UTC", "America/Bogota"]),
            "scheduler_enabled": n % 3 == 0, "active": True,
            "next_run_at": now + timedelta(hours=n % 48), "last_run_at": now,
            "pipeline_definition_json": {"steps": [
                {"key": "ingest", "type": "ingest.csv", "params": {"source": f"p{n}.csv"}},
                {"key": "validate", "type": "validate.rules"},
                {"key": "richness", "type": "compute.species_richness"},
                {"key": "publish", "type": "publish.release"}]},
            "data_quality_rules_json": {"rules": [
                {"id": "taxon", "type": "not_null", "severity": "error",
                 "column": "scientificName"}]},
            "lineage_notes": "", "created_at": now, "updated_at": now,
        } for n in range(programmes)])
        ids = list(session.scalars(select(MonitoringProgramme.id).order_by(
            MonitoringProgramme.id)))
        session.execute(insert(MonitoringProgrammeSteward), [
            {"programme_id": pid, "user_id": user.id, "role": "operator", "is_primary": False,
             "is_active": True, "notes": "", "created_at": now} for pid in ids])
        run_rows, step_rows, run_id = [], [], 0
        for pid in ids:
            for r in range(runs_per):
                run_id += 1
                queued = now - timedelta(hours=(runs_per - r) * 6)
                duration = rng.uniform(5, 600)
                run_rows.append({
                    "id": run_id, "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "programme_id": pid, "run_type": "full",
                    "trigger": rng.choice(["manual", "scheduled", "integration"]),
                    "status": rng.choices(["succeeded", "blocked", "failed"], [8, 1, 1])[0],
                    "dry_run": r % 10 == 0, "skipped_slots": 0, "queued_at": queued,
                    "started_at": queued, "finished_at": queued + timedelta(seconds=duration),
                    "duration_seconds": duration, "cancel_requested": False,
                    "lineage_json": {"inputs": [{"uri": f"p{pid}.csv", "sha256": "a" * 64,
                                                 "rows": 1000}]}})
                for s, (key, kind) in enumerate([("ingest", "ingest.csv"),
                                                 ("validate", "validate.rules"),
                                                 ("richness", "compute.species_richness"),
                                                 ("publish", "publish.release")][:steps_per]):
                    step_rows.append({
                        "run_id": run_id, "ordering": s, "step_key": key, "step_type": kind,
                        "status": "succeeded", "attempts": 1, "rows_in": 1000, "rows_out": 990,
                        "rows_rejected": 10, "duration_seconds": duration / steps_per,
                        "started_at": queued, "finished_at": queued,
                        "details_json": {"rules": [{"id": "taxon", "type": "not_null",
                                                    "severity": "error", "passed": True,
                                                    "failing_rows": 0, "fraction": 0.0}]}
                        if key == "validate" else {},
                        "log_excerpt": f"{key}: 1000 rows"})
            if len(step_rows) >= 40_000:
                session.execute(insert(MonitoringProgrammeRun), run_rows)
                session.execute(insert(MonitoringProgrammeRunStep), step_rows)
                run_rows, step_rows = [], []
        if run_rows:
            session.execute(insert(MonitoringProgrammeRun), run_rows)
            session.execute(insert(MonitoringProgrammeRunStep), step_rows)
        session.execute(insert(MonitoringProgrammeAlert), [{
            "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "programme_id": ids[n % len(ids)],
            "rule_id": f"rule-{n // len(ids)}", "severity": rng.choice(["warning", "error"]),
            "state": rng.choice(["open", "acknowledged", "resolved"]),
            "message": "rows failed a rule", "details_json": {}, "occurrence_count": 1,
            "first_seen_at": now, "last_seen_at": now - timedelta(minutes=n)}
            for n in range(alerts)])
        session.commit()
        if url.startswith("postgresql"):
            session.execute(db.text("SELECT setval(pg_get_serial_sequence("
                                    "'monitoring_programme_runs', 'id'), "
                                    "(SELECT max(id) FROM monitoring_programme_runs))"))
            session.execute(db.text("ANALYZE"))
        else:
            session.execute(db.text("ANALYZE"))
        session.commit()
        middle = ids[len(ids) // 2]
        code = session.scalar(select(MonitoringProgramme.code).where(
            MonitoringProgramme.id == middle))
        run = session.scalar(select(MonitoringProgrammeRun.uuid).where(
            MonitoringProgrammeRun.programme_id == middle)
            .order_by(MonitoringProgrammeRun.id.desc()))
        db.engine.dispose()
    return {"programmes list": "/", "programme detail": f"/programmes/{code}",
            "run detail": f"/runs/{run}", "alert inbox": "/alerts"}


class Client:
    """A keep-alive HTTP client with a session cookie."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response, data

    def sign_in(self) -> None:
        _, page = self.request("GET", "/login")
        token = CSRF.search(page.decode()).group(1)
        response, _ = self.request("POST", "/login", urlencode(
            {"email": EMAIL, "password": PASSWORD, "csrf_token": token}))
        assert response.status == 302, f"sign-in failed: {response.status}"


def drive(port: int, path: str) -> tuple[list[float], set[str]]:
    """Request ``path`` from CLIENTS threads for SECONDS; return latencies (ms), counts."""
    latencies: list[float] = []
    counts: set[str] = set()
    lock = threading.Lock()
    clients = [Client(port) for _ in range(CLIENTS)]
    for client in clients:
        client.sign_in()
        client.request("GET", path)  # warm up
    deadline = time.monotonic() + SECONDS

    def loop(client: Client) -> None:
        mine, seen = [], set()
        while time.monotonic() < deadline:
            start = time.perf_counter()
            response, _ = client.request("GET", path)
            mine.append((time.perf_counter() - start) * 1000)
            assert response.status == 200, f"{path}: {response.status}"
            seen.add(response.headers.get("X-Query-Count", "?"))
        with lock:
            latencies.extend(mine)
            counts.update(seen)

    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, counts


def tiny_database(url: str, tmp: Path) -> str:
    """A second, empty database of the same kind as ``url`` for the tiny reference."""
    if not url.startswith("postgresql"):
        return f"sqlite:///{tmp / 'tiny.sqlite3'}"
    from sqlalchemy import create_engine, text

    base, name = url.rsplit("/", 1)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_tiny" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}_tiny"'))
    engine.dispose()
    return f"{base}/{name}_tiny"


def tiny_query_counts(url: str) -> dict[str, str]:
    """Statements per page on 5 programmes (in-process, same database kind): the
    size-free reference."""
    pages = seed(url, 5, 2, STEPS_PER, 5)
    app = _app(url)
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    return {name: client.get(path).headers["X-Query-Count"] for name, path in pages.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    """Seed, serve, measure, print."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    print(f"database: {url.split('@')[-1]}  clients: {CLIENTS}  seconds per page: {SECONDS}")
    reference = tiny_query_counts(tiny_database(url, tmp))
    started = time.perf_counter()
    pages = seed(url, PROGRAMMES, RUNS_PER, STEPS_PER, ALERTS)
    print(f"seeded {PROGRAMMES:,} programmes, {PROGRAMMES * RUNS_PER:,} runs, "
          f"{PROGRAMMES * RUNS_PER * STEPS_PER:,} steps, {ALERTS:,} alerts "
          f"in {time.perf_counter() - started:.1f} s")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PORTAL_ENV": "development",
           "SQL_QUERY_COUNT_HEADER": "1", "SECRET_KEY": "bench-" + uuid.uuid4().hex,
           "INSTANCE_PATH": str(tmp)}
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # The reference: the OpenAPI document, served by the same gunicorn to the same
        # signed-in clients, with no data work (only the session's user is loaded).
        floor, _ = drive(port, "/api/v1/openapi.json")
        floor_median = statistics.median(floor)
        print(f"reference: /api/v1/openapi.json median {floor_median:.1f} ms "
              f"({len(floor)} requests)")
        print(f"{'page':<18} {'requests':>8} {'median ms':>10} {'p95 ms':>8} "
              f"{'× ref':>6} {'queries':>8} {'tiny-data queries':>18}")
        worst = 0.0
        for name, path in pages.items():
            latencies, counts = drive(port, path)
            latencies.sort()
            p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
            worst = max(worst, p95)
            median = statistics.median(latencies)
            print(f"{name:<18} {len(latencies):>8} {median:>10.1f} {p95:>8.1f} "
                  f"{median / floor_median:>6.1f} {','.join(sorted(counts)):>8} "
                  f"{reference[name]:>18}")
        verdict = "met" if worst < 100 else "NOT met"
        print(f"goal p95 < 100 ms: {verdict} (worst p95 {worst:.1f} ms)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
