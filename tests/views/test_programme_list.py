"""The programme list: search as you type, filters, columns, pages, constant queries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.models import utcnow
from tests.factories import gen_alert, gen_institution, gen_programme, gen_run, gen_user

HX = {"HX-Request": "true"}


@pytest.fixture
def app_config(app_config):
    """Count SQL statements per request (X-Query-Count)."""
    return {**app_config, "SQL_QUERY_COUNT_HEADER": True, "PAGE_SIZE": 100}


def test_columns_show_status_alerts_and_institutions(team, client, auth):
    programme = team["programme"]
    gen_run(programme, status="failed")
    gen_run(programme, status="succeeded", dry_run=True)
    gen_alert(programme, rule_id="a")
    gen_alert(programme, rule_id="b", state="acknowledged")
    gen_alert(programme, rule_id="c", state="resolved")
    auth.login("reviewer@x.org")
    page = client.get("/").get_data(as_text=True)
    assert "BIRDS" in page and "Breeding bird atlas" in page and "ORNI" in page
    assert 'status-succeeded' in page and "dry run" in page  # the latest run, marked dry
    assert 'class="count-alerts" href="/alerts?programme=BIRDS">2</a>' in page


def test_search_returns_the_fragment_and_keeps_the_url(team, client, auth):
    gen_programme("BATS", title="Bat roost counts", institutions=[])
    auth.login("admin@x.org")
    page = client.get("/").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'hx-push-url="true"' in page
    fragment = client.get("/?q=bird", headers=HX)
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<div id="programme-results">')
    assert "BIRDS" in text and "BATS" not in text and "<html" not in text
    assert "HX-Request" in fragment.headers["Vary"]
    restore = client.get("/?q=bird", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


@pytest.mark.parametrize("query,expected", [
    ("status=failed", {"FAILING"}),
    ("status=never", {"NEW"}),
    ("alerts=yes", {"FAILING"}),
    ("alerts=no", {"NEW", "OK"}),
    ("scheduler=on", {"OK"}),
    ("cadence=cron", {"NEW"}),
    ("cadence=daily", {"FAILING", "OK"}),
])
def test_filters(app, client, auth, query, expected):
    gen_user("admin@x.org", is_admin=True)
    failing = gen_programme("FAILING", refresh_cadence="daily")
    ok = gen_programme("OK", refresh_cadence="daily", scheduler_enabled=True,
                       next_run_at=utcnow() + timedelta(hours=3))
    gen_programme("NEW", refresh_cadence="0 6 * * 1")
    gen_run(failing, status="succeeded")
    gen_run(failing, status="failed")
    gen_run(ok, status="succeeded")
    gen_alert(failing)
    auth.login("admin@x.org")
    page = client.get(f"/?{query}", headers=HX).get_data(as_text=True)
    shown = {code for code in ("FAILING", "OK", "NEW") if f">{code}</a>" in page}
    assert shown == expected


def test_pagination_keeps_filters(app, client, auth):
    app.config["PAGE_SIZE"] = 2
    gen_user("admin@x.org", is_admin=True)
    for n in range(5):
        gen_programme(f"P{n}", refresh_cadence="daily")
    auth.login("admin@x.org")
    page = client.get("/?cadence=daily&page=2").get_data(as_text=True)
    assert ">P2</a>" in page and ">P0</a>" not in page
    assert "page 2 of 3" in page
    assert "cadence=daily" in page.split('rel="next"')[0].rsplit("href=", 1)[1]


def test_a_page_past_the_end_still_counts_the_programmes(app, client, auth):
    """Each row of a page carries the total; a page with no rows counts apart."""
    app.config["PAGE_SIZE"] = 2
    gen_user("admin@x.org", is_admin=True)
    for n in range(3):
        gen_programme(f"P{n}", refresh_cadence="daily")
    gen_programme("WEEKLY", refresh_cadence="weekly")
    auth.login("admin@x.org")
    last = client.get("/?cadence=daily&page=2").get_data(as_text=True)
    assert ">P2</a>" in last and "3 programmes · page 2 of 2" in last
    beyond = client.get("/?cadence=daily&page=7").get_data(as_text=True)
    assert "No programmes to show" in beyond
    api = client.get("/api/v1/programmes?cadence=daily&page=7").json
    assert api["items"] == [] and api["total"] == 3 and api["pages"] == 1
    nothing = client.get("/api/v1/programmes?cadence=monthly").json
    assert nothing["items"] == [] and nothing["total"] == 0


def _query_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200
    return int(response.headers["X-Query-Count"])


def test_queries_do_not_grow_with_rows(app, client, auth):
    user = gen_user("member@x.org")
    inst = gen_institution("INST")
    user.institutions = [inst]

    def add(count: int, start: int) -> None:
        for n in range(start, start + count):
            programme = gen_programme(f"Q{n:03d}", institutions=[inst])
            gen_run(programme, status="succeeded")
            gen_alert(programme)

    add(5, 0)
    auth.login("member@x.org")
    small = _query_count(client, "/")
    small_filtered = _query_count(client, "/?status=succeeded&alerts=yes")
    add(45, 5)
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="count-alerts"') == 50
    assert _query_count(client, "/") == small
    assert _query_count(client, "/?status=succeeded&alerts=yes") == small_filtered
    assert small <= 6
