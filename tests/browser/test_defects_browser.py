"""The rough edges found in a real browser (issue 14, item 1), each checked in Chromium:
editor errors show with JavaScript on, an open add form blocks nothing, forms report every
field's error at once with their hints, editor swaps raise no CSP error, the "Run queued."
flash goes once the run is over, and an archived programme's run buttons are disabled."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

import tests.engine.steps  # noqa: F401 — declares the test step types to the pipeline schema
from tests.browser.test_portal_browser import sign_in
from tests.factories import gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RULES = {"rules": [
    {"id": "taxon-present", "type": "not_null", "column": "taxon", "severity": "error"},
    {"id": "count-present", "type": "not_null", "column": "count", "severity": "warning"},
]}
PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.test_table", "params": {"rows": 20}},
    {"key": "pause", "type": "test.sleep", "params": {"seconds": 1}},
    {"key": "richness", "type": "compute.test_noop"},
]}


@pytest.fixture
def steward(app):
    """A steward of BIRDS (two rules, three steps) and an operator of the archived OLD."""
    programme = gen_programme("BIRDS", pipeline_definition_json=PIPELINE,
                              data_quality_rules_json=RULES)
    user = gen_user("steward@x.org")
    gen_steward(programme, user, "steward")
    gen_steward(gen_programme("OLD", active=False), user, "operator")
    gen_user("admin@x.org", is_admin=True)
    return user


def watch_console(page) -> list[str]:
    """Collect the page's console errors (CSP reports included)."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def open_raw_json(page, text: str) -> None:
    if not page.locator("#editor details").evaluate("details => details.open"):
        page.locator("#editor summary", has_text="Raw JSON").click()
    page.locator("#draft").fill(text)


def test_editor_errors_appear_with_javascript_on(steward, page):
    errors = watch_console(page)
    sign_in(page, "steward@x.org")
    page.goto("/programmes/BIRDS/pipeline/edit")
    page.evaluate("window.__notReloaded = true")

    open_raw_json(page, '{"steps": [')  # broken JSON
    # A resized textarea carries a style attribute; htmx's default settle copied it onto
    # the swapped-in editor with setAttribute, which the CSP (style-src 'self') refuses.
    page.locator("#draft").evaluate("textarea => textarea.style.height = '300px'")
    page.get_by_role("button", name="Apply JSON").click()
    expect(page.locator("#editor .flash-error")).to_contain_text("Draft")

    open_raw_json(page, '{"steps": [{"key": "x", "type": "no.such_step"}]}')
    page.get_by_role("button", name="Save pipeline").click()
    expect(page.locator("#editor .flash-error")).to_contain_text("no.such_step")
    assert page.url.endswith("/programmes/BIRDS/pipeline/edit")

    page.goto("/programmes/BIRDS/rules/edit")
    page.evaluate("window.__notReloaded = true")
    page.locator("#editor").get_by_label("Type").select_option("not_null")
    page.get_by_role("button", name="Show its fields").click()
    page.locator("#rule_id").fill("no-column")
    page.get_by_role("button", name="Add rule").click()  # a rule without its column
    expect(page.locator("#editor .field-error")).to_be_visible()
    expect(page.locator("#editor .flash-error")).to_contain_text("column")
    assert page.evaluate("window.__notReloaded") is True  # swapped in place by htmx
    assert page.csp == [] and not [e for e in errors if "Content Security Policy" in e]


def test_an_open_add_form_blocks_neither_moves_nor_remove_nor_save(steward, page):
    sign_in(page, "steward@x.org")
    page.goto("/programmes/BIRDS/rules/edit")
    editor = page.locator("#editor")
    editor.get_by_label("Type").select_option("range")
    editor.get_by_role("button", name="Show its fields").click()
    expect(page.locator("#rule_id")).to_be_visible()  # required, and left empty

    editor.get_by_role("button", name="Move taxon-present down").click()
    expect(editor.locator("tbody tr").first).to_contain_text("count-present")
    expect(page.locator("#rule_id")).to_be_visible()  # the add form stays open
    editor.get_by_role("button", name="Remove count-present").click()
    expect(editor.locator("tbody tr")).to_have_count(1)
    editor.get_by_role("button", name="Save rules").click()
    page.wait_for_url(re.compile(r"/programmes/BIRDS$"))
    expect(page.locator(".flash")).to_contain_text("Rules saved")
    page.goto("/programmes/BIRDS/rules/edit")
    expect(page.locator("#editor tbody tr")).to_have_count(1)
    expect(page.locator("#editor tbody")).to_contain_text("taxon-present")
    assert page.csp == []


def test_new_programme_form_reports_every_field_at_once_with_hints(steward, page):
    sign_in(page, "admin@x.org")
    page.goto("/programmes/new")
    expect(page.get_by_text("An IANA name such as Europe/Madrid.")).to_be_visible()
    page.get_by_label("Code").fill("bad code")
    page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    page.get_by_label("Cadence", exact=True).fill("sometimes")
    page.get_by_role("button", name="Create programme").click()
    for name in ("code", "title", "timezone", "refresh_cadence"):
        expect(page.locator(f"#{name}-error")).to_be_visible()
        assert page.locator(f"#{name}").get_attribute("aria-invalid") == "true"
    assert "Mars/Olympus_Mons" in page.locator("#timezone-error").inner_text()
    hint_ids = page.locator("#timezone").get_attribute("aria-describedby").split()
    assert hint_ids == ["timezone-hint", "timezone-error"]


def test_new_user_form_reports_every_field_at_once(steward, page):
    sign_in(page, "admin@x.org")
    page.goto("/admin/users")
    page.get_by_label("E-mail").fill("steward@x.org")  # taken
    page.get_by_label("Initial password").fill("short")
    page.get_by_role("button", name=re.compile("Create", re.I)).click()
    expect(page.locator("#email-error")).to_contain_text("already exists")
    expect(page.locator("#name-error")).to_be_visible()
    expect(page.locator("#password-error")).to_be_visible()


def test_archived_programme_run_buttons_are_disabled_with_the_reason(steward, page):
    sign_in(page, "steward@x.org")
    page.goto("/programmes/OLD")
    actions = page.locator("#run-actions")
    expect(actions.get_by_role("button", name="Run now")).to_be_disabled()
    expect(actions.get_by_role("button", name="Dry run")).to_be_disabled()
    expect(actions.locator("#run-reason")).to_contain_text("OLD is archived")


@pytest.mark.worker
def test_run_queued_flash_goes_when_the_run_is_over(steward, page, worker):
    sign_in(page, "steward@x.org")
    page.goto("/programmes/BIRDS")
    page.get_by_role("button", name="Dry run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator(".flash", has_text="queued")).to_have_count(0)
    assert page.csp == []
