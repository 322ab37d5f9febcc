"""A steward adds a ``transform.join`` step with the pipeline editor's generated fields —
key columns as a comma-separated list, cardinality from a menu — and no JSON typed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import MonitoringProgramme
from tests.browser.test_portal_browser import sign_in
from tests.factories import gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.browser]

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.dwca", "params": {"source": "events.zip"}},
]}


@pytest.fixture
def event_programme(app):
    """An event-core programme whose pipeline only ingests, and its steward."""
    programme = gen_programme("EVENTS", pipeline_definition_json=PIPELINE)
    gen_steward(programme, gen_user("steward@x.org"), "steward")
    return programme


def test_the_editor_adds_a_join_step_without_json(event_programme, page):
    sign_in(page, "steward@x.org")
    page.goto("/programmes/EVENTS/pipeline/edit")
    editor = page.locator("#editor")
    editor.get_by_label("Type").select_option("transform.join")
    editor.get_by_role("button", name="Show its fields").click()
    # The generated fields say what each parameter means; cardinality is a menu.
    expect(editor).to_contain_text("Key column(s) of the left table")
    expect(page.locator("#p_on")).to_have_attribute("placeholder", "comma-separated")
    expect(page.locator("#p_cardinality option")).to_contain_text(
        ["—", "many_to_one", "one_to_one", "one_to_many", "many_to_many"])

    page.locator("#key").fill("join")
    for name, value in {"p_left": "occurrence", "p_right": "event", "p_on": "eventID, year",
                        "p_as": "obs"}.items():
        page.locator(f"#{name}").fill(value)
    page.locator("#p_how").select_option("left")
    page.locator("#p_cardinality").select_option("many_to_one")
    editor.get_by_role("button", name="Add step").click()
    expect(page.locator("#editor table")).to_contain_text("transform.join")
    row = page.locator("#editor table tbody tr").nth(1)
    expect(row).to_contain_text("transform.join")
    expect(row).to_contain_text('["eventID", "year"]')
    page.get_by_role("button", name="Save pipeline").click()
    page.wait_for_url(re.compile(r"/programmes/EVENTS$"))

    db.session.expire_all()
    saved = db.session.get(MonitoringProgramme, event_programme.id).pipeline_definition_json
    assert saved["steps"][1] == {
        "key": "join", "type": "transform.join",
        "params": {"left": "occurrence", "right": "event", "on": ["eventID", "year"],
                   "how": "left", "cardinality": "many_to_one", "as": "obs"}}
    assert saved["steps"][0] == PIPELINE["steps"][0]  # what was there is kept as it was
