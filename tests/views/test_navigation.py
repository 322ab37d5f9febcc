"""The main navigation: every link on every page, the current page and section marked
for screen readers, the admin's links for admins only."""

from __future__ import annotations

import re

NAV = re.compile(r'<nav class="mainnav" aria-label="Main">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)"( aria-current="(page|true)")?>([^<]+)</a>')
EVERYONE = ["Programmes", "Runs", "Alerts", "Metrics", "Health", "Audit log", "API tokens",
            "Notifications", "Docs"]
ADMINS = ["Users", "Institutions", "Shared folders"]


def _nav(client, url: str) -> dict[str, tuple[str, str]]:
    """label -> (href, aria-current or "") of the main navigation on ``url``."""
    page = client.get(url)
    assert page.status_code == 200, url
    links = LINK.findall(NAV.search(page.get_data(as_text=True)).group(1))
    return {label: (href, current) for href, _, current, label in links}


def test_everyone_gets_the_same_links_and_admins_theirs_too(team, client, auth):
    auth.login("operator@x.org")
    nav = _nav(client, "/runs")
    assert list(nav) == EVERYONE
    assert nav["Programmes"][0] == "/" and nav["Audit log"][0] == "/audit"
    auth.logout()
    auth.login("admin@x.org")
    nav = _nav(client, "/runs")
    assert list(nav) == EVERYONE + ADMINS
    assert nav["Users"][0] == "/admin/users"


def test_the_current_page_and_its_section_are_marked(team, client, auth):
    auth.login("admin@x.org")
    nav = _nav(client, "/alerts")
    assert {label for label, (_, current) in nav.items() if current} == {"Alerts"}
    assert nav["Alerts"][1] == "page"
    # A programme's page is inside the Programmes section, not the page itself.
    nav = _nav(client, "/programmes/BIRDS")
    assert nav["Programmes"][1] == "true"
    assert {label for label, (_, current) in nav.items() if current} == {"Programmes"}
    # The Docs page (an authoring endpoint) is its own, not the Programmes section.
    docs = _nav(client, nav["Docs"][0])
    assert docs["Docs"][1] == "page" and docs["Programmes"][1] == ""
    nav = _nav(client, "/admin/users")
    assert nav["Users"][1] == "page"
