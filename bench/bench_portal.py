"""Portal page benchmark: what one request costs, and latency under 8 concurrent clients.

Seeds 1,000 programmes, 100,000 runs, 400,000 steps and 10,000 alerts with bulk inserts
(the programme summary is then recomputed, as a bulk load must), serves the portal with
gunicorn configured by the repository's ``gunicorn.conf.py`` (the production sizing),
signs in through the real form as an admin and as an operator who is a steward of
every programme, and measures four pages. The reference, the OpenAPI document served
by the same gunicorn to the same signed-in clients (only the session's user is loaded),
is measured in alternation with the pages, slice by slice, so both see the same load.

Printed per page and user: the single-client median (the per-request cost), the median
and p95 under ``BENCH_CLIENTS`` clients (default 8), the ratio to the reference, and the
SQL statements per page next to those on a tiny dataset (size independence). Goals
(issue 13): per request <= 10 ms on SQLite, <= 15 ms on PostgreSQL; p95 < 50 ms at 8
clients. Each goal is recorded per page and user with ``goals.record`` (bench "portal",
the JSON page's figure as its reference), so ``make bench`` lists them in its summary.
Temporary files (the SQLite file, its WAL) and databases are removed, also when the run
is stopped.

    .venv/bin/python bench/bench_portal.py            # a temporary SQLite file
    DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/bench_portal.py
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import signal
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
sys.path.insert(0, str(ROOT / "bench"))

from goals import record  # noqa: E402

PROGRAMMES, RUNS_PER, STEPS_PER, ALERTS = 1_000, 100, 4, 10_000
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 8))
SECONDS = float(os.environ.get("BENCH_SECONDS", 1.5))  # per slice
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))  # slices per page, alternating
SINGLE = int(os.environ.get("BENCH_SINGLE", 40))  # sequential requests per page
P95_GOAL_MS = 50.0
PASSWORD = "bench-password-123"
EMAIL = "operator@bench.org"
ADMIN = "admin@bench.org"
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
        admin = User(email=ADMIN, name="Bench Admin", active=True, is_admin=True)
        admin.set_password(PASSWORD)
        db.session.add_all([user, admin])
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
        # Bulk inserts bypass the services that keep each programme's summary (latest
        # run, open alerts): recompute it, as any bulk load must.
        from portal.services import programme_summary

        programme_summary.refresh()
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
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: reconnect once.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response, data

    def sign_in(self, email: str) -> None:
        """Sign in through the real form (CSRF token from the login page)."""
        _, page = self.request("GET", "/login")
        token = CSRF.search(page.decode()).group(1)
        response, _ = self.request("POST", "/login", urlencode(
            {"email": email, "password": PASSWORD, "csrf_token": token}))
        assert response.status == 302, f"sign-in failed: {response.status}"


def drive(clients: list[Client], path: str, seconds: float) -> tuple[list[float], set[str]]:
    """Request ``path`` from every client at once for ``seconds``; latencies (ms), counts."""
    latencies: list[float] = []
    counts: set[str] = set()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

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


def single(client: Client, paths: list[str], repeats: int) -> dict[str, list[float]]:
    """One client, one request at a time, cycling through ``paths`` (so each path's
    samples are spread over the same stretch of time): latencies (ms) per path."""
    samples: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(repeats):
        for path in paths:
            start = time.perf_counter()
            response, _ = client.request("GET", path)
            samples[path].append((time.perf_counter() - start) * 1000)
            assert response.status == 200, f"{path}: {response.status}"
    return samples


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def tiny_database(url: str, tmp: Path) -> str:
    """A second, empty database of the same kind as ``url`` for the tiny reference."""
    if not url.startswith("postgresql"):
        return f"sqlite:///{tmp / 'tiny.sqlite3'}"
    return _create_pg_database(url, "_tiny")


def _create_pg_database(url: str, suffix: str) -> str:
    from sqlalchemy import create_engine, text

    base, name = url.rsplit("/", 1)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}{suffix}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}{suffix}"'))
    engine.dispose()
    return f"{base}/{name}{suffix}"


def drop_pg_database(maintenance_url: str, url: str) -> None:
    """Drop the PostgreSQL database at ``url`` (connected through ``maintenance_url``)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(maintenance_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def tiny_query_counts(url: str) -> dict[str, dict[str, str]]:
    """Statements per page and user on 5 programmes (in-process, same database kind):
    the size-free reference."""
    from portal.extensions import db

    pages = seed(url, 5, 2, STEPS_PER, 5)
    app = _app(url)
    counts = {}
    for email in (ADMIN, EMAIL):
        client = app.test_client()
        token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
        client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
        counts[email] = {name: client.get(path).headers["X-Query-Count"]
                         for name, path in pages.items()}
    with app.app_context():
        db.engine.dispose()
    return counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(port: int, email: str, pages: dict[str, str], reference: dict[str, str],
            goal_single: float, database: str) -> tuple[float, float]:
    """Measure every page for one user; print its table and record its goals; return the
    worst single-client median and the worst p95."""
    ref_path = "/api/v1/openapi.json"
    clients = [Client(port) for _ in range(CLIENTS)]
    for client in clients:
        client.sign_in(email)
        for path in [ref_path, *pages.values()]:
            client.request("GET", path)  # warm up every page on every connection
    alone = single(clients[0], [ref_path, *pages.values()], SINGLE)
    loaded: dict[str, list[float]] = {path: [] for path in [ref_path, *pages.values()]}
    counts: dict[str, set[str]] = {path: set() for path in pages.values()}
    for _ in range(ROUNDS):
        for path in pages.values():  # the reference slice, then the page's: alternating
            latencies, _ = drive(clients, ref_path, SECONDS)
            loaded[ref_path].extend(latencies)
            latencies, seen = drive(clients, path, SECONDS)
            loaded[path].extend(latencies)
            counts[path] |= seen
    ref_single = statistics.median(alone[ref_path])
    ref_loaded = statistics.median(loaded[ref_path])
    print(f"\nas {email}")
    print(f"{'page':<18} {'alone ms':>9} {'requests':>9} {'median ms':>10} {'p95 ms':>8} "
          f"{'× ref':>6} {'queries':>8} {'tiny-data queries':>18}")
    print(f"{'reference (json)':<18} {ref_single:>9.1f} {len(loaded[ref_path]):>9} "
          f"{ref_loaded:>10.1f} {p95(loaded[ref_path]):>8.1f} {1.0:>6.1f} {'':>8} {'':>18}")
    worst_single = worst_p95 = 0.0
    for name, path in pages.items():
        median_alone = statistics.median(alone[path])
        median, high = statistics.median(loaded[path]), p95(loaded[path])
        worst_single, worst_p95 = max(worst_single, median_alone), max(worst_p95, high)
        print(f"{name:<18} {median_alone:>9.1f} {len(loaded[path]):>9} {median:>10.1f} "
              f"{high:>8.1f} {median / ref_loaded:>6.1f} "
              f"{','.join(sorted(counts[path])):>8} {reference[name]:>18}")
    who = "admin" if email == ADMIN else "operator"
    for name, path in pages.items():
        figure = statistics.median(alone[path])
        record("portal", f"per request {name} ({who})", figure=figure, unit="ms",
               goal=f"<= {goal_single:g} ms", met=figure <= goal_single, database=database,
               reference=f"JSON page {ref_single:.1f} ms ({figure / ref_single:.1f}x)")
    everything = [latency for path in pages.values() for latency in loaded[path]]
    record("portal", f"p95 at {CLIENTS} clients ({who})", figure=worst_p95, unit="ms",
           goal=f"< {P95_GOAL_MS:g} ms", met=worst_p95 < P95_GOAL_MS, database=database,
           reference=f"JSON page p95 {p95(loaded[ref_path]):.1f} ms; all pages' p95 "
                     f"{p95(everything):.1f} ms")
    return worst_single, worst_p95


def main() -> None:
    """Seed, serve, measure as admin and as operator, print the goals, clean up."""
    # A stop (Ctrl-C, TERM) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    given = os.environ.get("DATABASE_URL")
    url = given or f"sqlite:///{tmp / 'bench.sqlite3'}"
    postgres = url.startswith("postgresql")
    goal_single = 15.0 if postgres else 10.0
    tiny = tiny_database(url, tmp)
    server = None
    try:
        print(f"database: {url.split('@')[-1]}  clients: {CLIENTS}  rounds: {ROUNDS} × "
              f"{SECONDS:g} s per page and reference")
        reference = tiny_query_counts(tiny)
        started = time.perf_counter()
        pages = seed(url, PROGRAMMES, RUNS_PER, STEPS_PER, ALERTS)
        print(f"seeded {PROGRAMMES:,} programmes, {PROGRAMMES * RUNS_PER:,} runs, "
              f"{PROGRAMMES * RUNS_PER * STEPS_PER:,} steps, {ALERTS:,} alerts "
              f"in {time.perf_counter() - started:.1f} s")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "PORTAL_ENV": "development",
               "SQL_QUERY_COUNT_HEADER": "1", "SECRET_KEY": "bench-" + uuid.uuid4().hex,
               "INSTANCE_PATH": str(tmp), "GUNICORN_ACCESS_LOG": ""}
        # gunicorn reads ./gunicorn.conf.py: the bench serves with the production sizing.
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        worst_single = worst_p95 = 0.0
        for email in (ADMIN, EMAIL):
            alone, high = measure(port, email, pages, reference[email], goal_single,
                                  "postgresql" if postgres else "sqlite")
            worst_single, worst_p95 = max(worst_single, alone), max(worst_p95, high)
        print(f"\ngoal per request (one client) <= {goal_single:g} ms: "
              f"{'met' if worst_single <= goal_single else 'NOT met'} "
              f"(worst median {worst_single:.1f} ms)")
        print(f"goal p95 < {P95_GOAL_MS:g} ms at {CLIENTS} clients: "
              f"{'met' if worst_p95 < P95_GOAL_MS else 'NOT met'} (worst p95 {worst_p95:.1f} ms)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        if postgres:
            drop_pg_database(url, tiny)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
