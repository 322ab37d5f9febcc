"""PostgreSQL stopped mid-step for longer than the heartbeat limit: once it is back the
run ends in a final state (finished, or lost and retried), and nothing stays active.

The harness's PostgreSQL is shared by the whole test session, so this test starts a
private cluster of its own (as ``scripts/lib.sh start_postgres`` does) and stops that.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from portal import create_app
from portal.extensions import db
from portal.services.runs import queue_run
from tests.conftest import IS_POSTGRES, settings_for
from tests.engine.conftest import wait_for
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user
from tests.faults.conftest import Processes, free_port, settled, step_running

pytestmark = [
    pytest.mark.worker, pytest.mark.slow,
    pytest.mark.skipif(not IS_POSTGRES, reason="a database server outage needs PostgreSQL; "
                       "SQLite is a file in the worker's own process"),
]


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port (initdb/pg_ctl as user postgres)."""

    def __init__(self):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            pytest.skip("no PostgreSQL server binaries for a private cluster")
        self.bindir = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="programme-ops-pg-outage-"))
        self.root.chmod(0o755)  # the postgres user must reach its cluster
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal_outage"

    def _as_postgres(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        """initdb, start and create the database."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres("initdb", "-D", str(self.root / "data"), "-U", "postgres",
                          "-A", "trust", "--no-sync")
        self.start()
        subprocess.run([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "postgres", "portal_outage"], check=True, timeout=60)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._as_postgres("pg_ctl", "-D", str(self.root / "data"), "-l",
                          str(self.root / "server.log"), "-w", "-o",
                          f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                          "-c fsync=off -c synchronous_commit=off", "start")

    def stop(self) -> None:
        """Stop the server (fast: open connections are cut)."""
        self._as_postgres("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        """Stop the server if it runs and remove the cluster."""
        try:
            self._as_postgres("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate",
                              "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres():
    """A private PostgreSQL cluster for the test, removed afterwards."""
    server = PrivatePostgres()
    try:
        server.create()
    except (OSError, subprocess.SubprocessError) as error:
        server.destroy()
        pytest.skip(f"a private PostgreSQL cluster could not be started: {error}")
    yield server
    server.destroy()


def test_a_postgres_outage_mid_step_ends_in_a_final_state_once_it_is_back(
        fault_roots, private_redis, private_postgres):
    app = create_app("testing", {**settings_for(fault_roots), "REDIS_URL": private_redis.url,
                                 "SQLALCHEMY_DATABASE_URI": private_postgres.url})
    processes = Processes(fault_roots, private_redis.url, database_url=private_postgres.url)
    with app.app_context():
        db.create_all()
        try:
            scheduler = processes.scheduler()
            worker = processes.worker("steady")
            programme = gen_programme(pipeline_definition_json=pipeline(
                ("wait", "test.sleep", {"params": {"seconds": 6}}), ("after", "test.noop")))
            run_id, programme_id = queue_run(programme, gen_user()).run.id, programme.id
            wait_for(lambda: step_running(run_id, "wait"), message="the step to start")
            db.session.remove()
            db.engine.dispose()

            private_postgres.stop()
            # The outage outlasts the heartbeat limit (setup, not an assertion on speed).
            time.sleep(app.config["RUN_STALE_AFTER_SECONDS"] + 3)
            private_postgres.start()

            runs = wait_for(lambda: settled(programme_id), deadline=180,
                            message="every attempt to reach a final state")
            assert runs[0].id == run_id
            assert runs[-1].status == "succeeded", [(r.status, r.error_message) for r in runs]
            for earlier in runs[:-1]:  # a lost attempt, retried
                assert earlier.status == "failed"
                assert earlier.error_message.startswith("worker lost")
            assert scheduler.poll() is None and worker.poll() is None  # both rode it out
        finally:
            processes.kill_all()
            db.session.remove()
            db.engine.dispose()
