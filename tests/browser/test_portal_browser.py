"""The portal in headless Chromium: Run now with a live timeline, alert triage, access."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

import tests.engine.steps  # noqa: F401 — declares the test step types to the pipeline schema
from tests.factories import PASSWORD, gen_alert, gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]
DOCS = Path(__file__).resolve().parents[2] / "docs"
PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.test_table", "params": {"rows": 250}},
    {"key": "pause", "type": "test.sleep", "params": {"seconds": 1.5}},
    {"key": "richness", "type": "compute.test_noop"},
]}


@pytest.fixture
def people(app):
    """A programme with an operator, a reviewer and an outsider, and an open alert."""
    programme = gen_programme("BIRDS", title="Breeding bird atlas",
                              pipeline_definition_json=PIPELINE, timezone="Europe/Madrid")
    users = {role: gen_user(f"{role}@x.org") for role in ("operator", "reviewer", "outsider")}
    gen_steward(programme, users["operator"], "operator")
    gen_steward(programme, users["reviewer"], "reviewer")
    alert = gen_alert(programme, rule_id="taxon-present", message="3 rows lack a taxon")
    return {"programme": programme, "alert": alert}


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/$|/\?"))


def test_operator_runs_now_and_watches_the_timeline(people, page, worker):
    sign_in(page, "operator@x.org")
    page.goto("/programmes/BIRDS")
    page.get_by_role("button", name="Run now").click()  # hx-confirm, accepted
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    page.evaluate("window.__notReloaded = true")
    status = page.locator("#run-status")
    # Locator assertions run outside the page's CSP (wait_for_function would need eval).
    expect(status).to_contain_text("running", timeout=20_000)
    expect(status).to_contain_text("succeeded", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True  # updated in place by HTMX
    assert "succeeded" in status.inner_text()
    assert page.locator("#run-live[hx-trigger]").count() == 0  # polling stopped
    assert page.locator(".timeline .step").count() == 3
    assert "250" in page.locator("#step-ingest").inner_text()
    assert page.csp == []


def test_reviewer_acknowledges_then_resolves_an_alert(people, page):
    alert = people["alert"]
    sign_in(page, "reviewer@x.org")
    page.goto("/alerts")
    row = page.locator(f"#alert-{alert.uuid}")
    row.get_by_label("Note").fill("checking the field sheets")
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector(f"#alert-{alert.uuid} [data-state=acknowledged]")
    row = page.locator(f"#alert-{alert.uuid}")
    row.get_by_role("button", name="Resolve").click()  # no note: refused in place
    page.wait_for_selector(f"#alert-{alert.uuid} .field-error")
    row.get_by_label("Note").fill("re-keyed three records")
    row.get_by_role("button", name="Resolve").click()
    page.wait_for_selector(f"#alert-{alert.uuid} [data-state=resolved]")
    row.locator("summary").click()
    history = page.locator(f"#alert-{alert.uuid} .history").inner_text()
    assert "checking the field sheets" in history and "re-keyed three records" in history
    assert page.csp == []


def test_reviewer_sees_no_run_now_button(people, page):
    sign_in(page, "reviewer@x.org")
    page.goto("/programmes/BIRDS")
    assert page.get_by_role("button", name="Run now").is_disabled()
    assert "operators can start" in page.locator("#run-reason").inner_text()


def test_outsider_gets_404(people, page):
    sign_in(page, "outsider@x.org")
    response = page.goto("/programmes/BIRDS")
    assert response.status == 404
    assert "BIRDS" not in page.locator("main").inner_text()


def test_post_without_csrf_token_is_refused(people, page):
    sign_in(page, "operator@x.org")
    response = page.request.post("/programmes/BIRDS/dry-run", form={"x": "1"},
                                 max_redirects=0)
    assert response.status == 400
    assert "security token" in response.text()
