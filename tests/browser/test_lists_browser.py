"""Lists in Chromium: bulk-resolve alerts with one note, sort a column by clicking its
heading, show archived programmes, and read a time's exact instant from its tooltip."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_portal_browser import sign_in
from tests.factories import gen_alert, gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def inbox(app):
    """A reviewer of BIRDS with three open alerts; an archived programme they also review."""
    programme = gen_programme("BIRDS", timezone="Europe/Madrid")
    reviewer = gen_user("reviewer@x.org")
    gen_steward(programme, reviewer, "reviewer")
    gen_steward(gen_programme("ARCHIVED", active=False), reviewer, "reviewer")
    return [gen_alert(programme, rule_id=f"rule-{n}", message=f"problem {n}") for n in range(3)]


def test_reviewer_resolves_two_alerts_with_one_note(inbox, page):
    sign_in(page, "reviewer@x.org")
    page.goto("/alerts")
    for alert in inbox[:2]:
        page.get_by_label(f"Select {alert.rule_id} on BIRDS").check()
    page.get_by_label("Note for the selected alerts").fill("re-keyed from the field sheets")
    page.get_by_role("button", name="Resolve selected").click()
    expect(page.locator(".flash")).to_contain_text("2 alerts resolved.")
    page.goto("/alerts?state=resolved")
    for alert in inbox[:2]:
        row = page.locator(f"#alert-{alert.uuid}")
        expect(row.locator("[data-state=resolved]")).to_be_visible()
        row.locator("summary").click()
        expect(row.locator(".history")).to_contain_text("re-keyed from the field sheets")
    page.goto("/alerts")
    expect(page.locator(f"#alert-{inbox[2].uuid} [data-state=open]")).to_be_visible()
    assert page.csp == []


def test_sort_by_clicking_a_heading_and_show_archived(inbox, page):
    sign_in(page, "reviewer@x.org")
    page.goto("/")
    expect(page.locator("#programme-results tbody tr")).to_have_count(1)
    page.get_by_label("Show archived").check()
    expect(page.locator("#programme-results tbody tr")).to_have_count(2)
    expect(page.locator("#programme-results")).to_contain_text("archived")
    page.get_by_role("link", name=re.compile("^Code")).click()  # by code, Z to A
    expect(page.locator("th[aria-sort=descending]")).to_have_text(re.compile("Code"))
    first = page.locator("#programme-results tbody tr").first
    expect(first).to_contain_text("BIRDS")
    assert "archived=yes" in page.url and "sort=-code" in page.url


def test_a_time_carries_its_zone_and_exact_instant(inbox, page):
    sign_in(page, "reviewer@x.org")
    page.goto("/alerts")
    seen = page.locator(f"#alert-{inbox[0].uuid} time").first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T",
                        seen.get_attribute("title"))  # the programme's zone, Madrid
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00",
                        seen.get_attribute("datetime"))
