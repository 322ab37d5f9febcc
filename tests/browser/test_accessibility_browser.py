"""Every page in Chromium: axe-core finds no violation, and at 375 px nothing scrolls the
page sideways (tables scroll inside their own wrapper) and the navigation collapses.

axe-core is vendored in tests/browser/vendor (pinned, see VENDORED.txt), never served by the
portal; it is evaluated through the DevTools protocol, so the page's CSP stays as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.browser.test_portal_browser import sign_in
from tests.factories import gen_alert, gen_programme, gen_run, gen_steward, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
PIPELINE = {"steps": [{"key": "ingest", "type": "ingest.darwin_core",
                       "params": {"source": "inbox/latest"}}]}
RULES = {"rules": [{"id": "taxon-present", "type": "not_null", "column": "scientificName",
                    "severity": "error"}]}
NOT_PAGES = {"metrics.prometheus", "audit.export", "runs.openlineage", "runs.rejections",
             "programmes.release_download", "authoring.rule_preview", "auth.login"}


@pytest.fixture
def site(app: Flask):
    """A programme with a run, an alert and people; returns the URL of every HTML page."""
    programme = gen_programme("BIRDS", title="Breeding bird atlas", timezone="Europe/Madrid",
                              pipeline_definition_json=PIPELINE, data_quality_rules_json=RULES)
    admin = gen_user("admin@x.org", is_admin=True)
    gen_steward(programme, admin, "owner")
    gen_steward(programme, gen_user("reviewer@x.org"), "reviewer")
    run = gen_run(programme, status="failed", error_message="ingest: no such file")
    gen_alert(programme, rule_id="taxon-present", message="3 rows lack a taxon")
    values = {"code": "BIRDS", "run_uuid": run.uuid, "user_id": admin.id}
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if ("GET" not in rule.methods or rule.endpoint in NOT_PAGES
                    or rule.rule.startswith(("/api", "/static", "/healthz", "/readyz"))
                    or not rule.arguments <= values.keys()
                    or rule.rule.endswith((".json", ".csv", ".txt", ".svg", ".zip"))):
                continue
            urls.append(app.url_for(rule.endpoint,
                                    **{name: values[name] for name in rule.arguments}))
    return sorted(set(urls))


def axe_violations(page) -> list[str]:
    """Run axe-core (WCAG 2 A/AA and best practices) on the page; one line per violation."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"{v['id']}: {v['help']} at {json.dumps(v['nodes'])}" for v in result]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def overflowing(page) -> list[str]:
    """What sticks out of the viewport on the right: outermost elements, or text (the report)."""
    return page.evaluate("""() => {
        const out = [], texts = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(walker.currentNode);
            if (range.getBoundingClientRect().right > window.innerWidth + 0.5)
                texts.push('text ' + JSON.stringify(walker.currentNode.textContent.slice(0, 40)));
        }
        for (const el of document.querySelectorAll('body *')) {
            if (el.getBoundingClientRect().right <= window.innerWidth + 0.5) continue;
            if (out.some(o => o.contains(el))) continue;
            let p = el.parentElement, clipped = false;
            while (p && p !== document.body) {
                if (getComputedStyle(p).overflowX !== 'visible') { clipped = true; break; }
                p = p.parentElement;
            }
            if (!clipped) out.push(el);
        }
        return out.slice(0, 4).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
            + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
            + ' in ' + (el.parentElement.className || el.parentElement.tagName))
            .concat(texts.slice(0, 4));
    }""")


def test_axe_finds_no_violation_on_any_page(site, page):
    page.goto("/login")
    found = {"/login": axe_violations(page)}
    sign_in(page, "admin@x.org")
    for url in site:
        response = page.goto(url)
        found[url] = (axe_violations(page) if response is not None and response.status == 200
                      else [f"HTTP {response.status if response else 'no response'}"])
        if page.locator("nav.mainnav [aria-current]").count() > 1:  # one section at a time
            found[url].append("more than one navigation link is aria-current")
    assert {url: v for url, v in found.items() if v} == {}
    assert page.csp == []


def test_every_page_fits_375_pixels_and_the_navigation_collapses(site, browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto("/login")
        assert no_sideways_scroll(page)
        sign_in(page, "admin@x.org")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav).to_be_hidden()  # collapsed behind the Menu button, no JavaScript needed
        page.get_by_text("Menu", exact=True).click()
        expect(nav.get_by_role("link", name="Alerts")).to_be_visible()
        wide = {url: overflowing(page) for url in site
                if page.goto(url) and not no_sideways_scroll(page)}
        assert wide == {}
        # A wide table scrolls inside its wrapper, and the triage buttons stay reachable.
        page.goto("/alerts")
        acknowledge = page.locator("tbody.alert-row").first.get_by_role(
            "button", name="Acknowledge", exact=True)
        acknowledge.scroll_into_view_if_needed()
        expect(acknowledge).to_be_in_viewport()
    finally:
        context.close()


def test_skip_link_current_page_and_sign_in_autocomplete(site, page):
    page.goto("/login")
    assert page.get_by_label("E-mail").get_attribute("autocomplete") == "username"
    assert page.get_by_label("Password").get_attribute("autocomplete") == "current-password"
    sign_in(page, "admin@x.org")
    page.goto("/alerts")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    skip.press("Enter")
    assert re.search(r"#main$", page.url)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.locator("[aria-current]")).to_have_count(1)
    expect(nav.locator("[aria-current=page]")).to_have_text("Alerts")
    page.goto("/programmes/BIRDS")  # inside the Programmes section, not its list
    expect(nav.locator("[aria-current]")).to_have_text("Programmes")
