"""A steward sets up a programme in the browser: create it, upload the land-snail table,
build the pipeline and rules with the editors, preview the rules, save, run, and see the
release — every step through the real pages, a real worker and headless Chromium."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_portal_browser import DOCS, sign_in
from tests.factories import gen_institution, gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]


@pytest.fixture
def owner(app):
    """An owner of another programme may create new ones."""
    institution = gen_institution("SNAILLAB")
    user = gen_user("owner@x.org", institutions=[institution])
    gen_steward(gen_programme("EXISTING"), user, "owner")
    return user


def add_item(page, item_type: str, fields: dict[str, str], key_field: str, key: str) -> None:
    editor = page.locator("#editor")
    editor.get_by_label("Type").select_option(item_type)
    editor.get_by_role("button", name="Show its fields").click()
    expect(page.locator(f"#{key_field}")).to_be_visible()
    page.locator(f"#{key_field}").fill(key)
    for name, value in fields.items():
        locator = page.locator(f"#{name}")
        if locator.evaluate("el => el.tagName") == "SELECT":
            locator.select_option(value)
        else:
            locator.fill(value)
    editor.get_by_role("button", name=re.compile(r"^Add (step|rule)$")).click()
    expect(page.locator("#editor table")).to_contain_text(key)


def test_steward_sets_up_a_programme_end_to_end(owner, page, worker, shared_data):
    sign_in(page, "owner@x.org")
    page.goto("/")
    page.get_by_role("link", name="New programme").click()
    page.get_by_label("Code").fill("SNAILS")
    page.get_by_label("Title").fill("Land snails of Gran Canaria")
    page.get_by_label("Time zone").fill("Atlantic/Canary")
    page.get_by_role("button", name="Create programme").click()
    page.wait_for_url(re.compile(r"/programmes/SNAILS/pipeline/edit$"))

    # Deliver the season's file through the data inbox.
    page.goto("/programmes/SNAILS/inbox")
    page.get_by_label("Data file").set_input_files(
        str(shared_data / "landsnails-gran-canaria" / "occurrence.csv"))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash")).to_contain_text("occurrence.csv received")
    expect(page.locator("table")).to_contain_text("389")

    # Build the pipeline from the registry, no JSON typed.
    page.goto("/programmes/SNAILS/pipeline/edit")
    add_item(page, "ingest.darwin_core", {"p_source": "inbox/latest"}, "key", "ingest")
    add_item(page, "validate.rules", {}, "key", "validate")
    add_item(page, "compute.species_richness", {"p_site": "locality", "p_period": "year"},
             "key", "richness")
    add_item(page, "publish.release", {"p_name": "snail-richness"}, "key", "publish")
    page.get_by_role("button", name="Save pipeline").click()
    page.wait_for_url(re.compile(r"/programmes/SNAILS$"))

    # Rules, previewed against the uploaded table before saving.
    page.goto("/programmes/SNAILS/rules/edit")
    add_item(page, "not_null", {"p_column": "scientificName"}, "rule_id", "name-present")
    add_item(page, "coordinates", {"p_latitude": "decimalLatitude",
                                   "p_longitude": "decimalLongitude"}, "rule_id", "coordinates")
    add_item(page, "not_null", {"p_column": "organismQuantity", "severity": "warning"},
             "rule_id", "quantity-present")
    page.get_by_role("button", name="Preview against the latest input").click()
    preview = page.locator(".preview")
    expect(preview).to_contain_text("rows would be rejected", timeout=30_000)
    expect(preview.locator('tr[data-rule="quantity-present"] td.num')).to_contain_text("40")
    expect(preview.locator('tr[data-rule="name-present"]')).to_contain_text("passes")
    expect(preview).to_contain_text("pass the gate")
    if os.environ.get("UPDATE_SCREENSHOTS"):  # refresh the README's picture on request only
        page.screenshot(path=str(DOCS / "screenshot-rule-preview.png"), full_page=True)
    page.get_by_role("button", name="Save rules").click()
    page.wait_for_url(re.compile(r"/programmes/SNAILS$"))

    # A release needs a licence: the programme's, set with the edit form's hint.
    page.goto("/programmes/SNAILS/edit")
    expect(page.locator("#licence-hint")).to_contain_text("SPDX licence id")
    page.get_by_label("Release licence").fill("CC-BY-4.0")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/programmes/SNAILS$"))

    # Run it and see the release.
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=60_000)
    expect(page.locator(".timeline")).to_contain_text("389")
    if os.environ.get("UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / "screenshot-run.png"), full_page=True)
    page.goto("/programmes/SNAILS")
    releases = page.locator(".releases")
    expect(releases).to_contain_text("1.0")
    expect(releases).to_contain_text("datapackage.json")
    assert page.csp == []
