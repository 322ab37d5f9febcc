"""The health page shows worker names, current job ids and queues to admins only (issue 9).

A worker is registered in the real Redis the way ``rq`` does when it starts and
picks up a job, so the page reads it through the same ``Worker.all()`` call.
"""

from __future__ import annotations

import html
import uuid

import pytest
from rq import Worker

from portal.services.dispatch import get_queue, redis_connection
from tests.factories import gen_programme, gen_steward, gen_user


@pytest.fixture
def busy_worker(app):
    """A registered worker busy with another programme's job (removed afterwards)."""
    connection = redis_connection()
    queue = get_queue("default", connection)
    job = queue.enqueue("os.getcwd", job_id=f"run-of-BATS-{uuid.uuid4().hex[:8]}")
    worker = Worker([queue], name=f"worker-host-{uuid.uuid4().hex[:6]}.4242",
                    connection=connection)
    worker.register_birth()
    worker.set_state("busy")
    worker.prepare_execution(job)
    yield {"name": worker.name, "job_id": job.id}
    worker.register_death()
    job.delete()


@pytest.fixture
def people(app):
    programme = gen_programme("BIRDS")
    gen_programme("BATS")
    steward = gen_user("steward@x.org")
    gen_steward(programme, steward, "steward")
    gen_user("admin@x.org", is_admin=True)


def _page(client) -> str:
    response = client.get("/health")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_a_steward_sees_aggregate_worker_health_only(people, busy_worker, client, auth):
    auth.login("steward@x.org")
    page = _page(client)
    assert busy_worker["job_id"] not in page
    assert busy_worker["name"] not in page
    assert "worker(s) running" in page and "busy" in page
    assert "Queues" in page  # queue depths are aggregate numbers: still shown


def test_an_admin_sees_worker_names_and_job_ids(people, busy_worker, client, auth):
    auth.login("admin@x.org")
    page = _page(client)
    assert busy_worker["job_id"] in page
    assert busy_worker["name"] in page
    assert 'id="workers-summary"' not in page
