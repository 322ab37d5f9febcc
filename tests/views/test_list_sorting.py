"""Runs and alerts sorted by their columns (status, trigger, programme; severity, state,
programme): the order a user sees changes, sort links keep the filters, and paging
through a sorted list shows every row exactly once, forwards and back."""

from __future__ import annotations

import html
import re

import pytest

from portal.services.queries import AlertFilters, RunFilters, list_alerts, list_runs
from tests.factories import gen_alert, gen_programme, gen_run

RUN_STATUSES = ["succeeded", "failed", "blocked", "cancelled"]
TRIGGERS = ["manual", "scheduled", "integration"]


@pytest.fixture
def many(team):
    """Three programmes with 14 runs and 9 alerts of mixed status, trigger, severity."""
    programmes = [team["programme"], gen_programme("ALPHA"), gen_programme("ZETA")]
    runs = [gen_run(programmes[n % 3], status=RUN_STATUSES[n % 4], trigger=TRIGGERS[n % 3])
            for n in range(14)]
    alerts = [gen_alert(programmes[n % 3], rule_id=f"r{n}",
                        severity=["info", "critical", "warning", "error"][n % 4],
                        state=["open", "acknowledged", "resolved"][n % 3]) for n in range(9)]
    return {"programmes": programmes, "runs": runs, "alerts": alerts}


def walk(fetch, per_page: int = 3) -> tuple[list, list]:
    """Every page forwards, then every page back from the last; the rows as read."""
    forwards, cursor, page = [], None, None
    while True:
        page = fetch(after=cursor, before=None, per_page=per_page)
        forwards.extend(page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    backwards = list(page.items)
    while page.prev_cursor:
        page = fetch(after=None, before=page.prev_cursor, per_page=per_page)
        backwards[:0] = page.items
    return forwards, backwards


@pytest.mark.parametrize("sort", ["status", "-status", "trigger", "-trigger", "programme",
                                  "-programme", "queued", ""])
def test_paging_a_sorted_run_list_neither_skips_nor_repeats(many, team, sort):
    admin = team["users"]["admin"]
    filters = RunFilters(sort=sort)
    forwards, backwards = walk(lambda **kw: list_runs(admin, filters, **kw))
    assert sorted(r.id for r in forwards) == sorted(r.id for r in many["runs"])
    assert [r.id for r in backwards] == [r.id for r in forwards]
    key = {"status": lambda r: (r.status, r.id), "trigger": lambda r: (r.trigger, r.id),
           "programme": lambda r: (r.programme.code, r.id),
           "queued": lambda r: (r.queued_at, r.id), "": lambda r: (r.queued_at, r.id)}
    expected = sorted(many["runs"], key=key[sort.lstrip("-")],
                      reverse=sort.startswith("-") or sort == "")
    assert [r.id for r in forwards] == [r.id for r in expected]


@pytest.mark.parametrize("sort", ["severity", "-severity", "state", "-state", "programme",
                                  "-programme", "seen"])
def test_paging_a_sorted_alert_list_neither_skips_nor_repeats(many, team, sort):
    admin = team["users"]["admin"]
    filters = AlertFilters(state="all", sort=sort)
    forwards, backwards = walk(lambda **kw: list_alerts(admin, filters, **kw), per_page=2)
    assert sorted(a.id for a in forwards) == sorted(a.id for a in many["alerts"])
    assert [a.id for a in backwards] == [a.id for a in forwards]
    rank = {"info": 0, "warning": 1, "error": 2, "critical": 3}
    key = {"severity": lambda a: (rank[a.severity], a.id), "state": lambda a: (a.state, a.id),
           "programme": lambda a: (a.programme.code, a.id),
           "seen": lambda a: (a.last_seen_at, a.id)}
    expected = sorted(many["alerts"], key=key[sort.lstrip("-")], reverse=sort.startswith("-"))
    assert [a.id for a in forwards] == [a.id for a in expected]


def run_statuses(page: str) -> list[str]:
    return re.findall(r'<span class="badge status-([a-z]+)">', page)


def test_the_runs_page_sorts_by_status_and_programme_from_its_headers(many, client, auth):
    auth.login("admin@x.org")
    by_time = run_statuses(client.get("/runs?trigger=manual").get_data(as_text=True))
    page = client.get("/runs?sort=status&trigger=manual").get_data(as_text=True)
    by_status = run_statuses(page)
    assert by_time != sorted(by_time) and by_status == sorted(by_time)
    assert 'aria-sort="ascending"><a class="sort" href="/runs?trigger=manual&amp;sort=-status"' \
        in page
    # Every other header keeps the filter too.
    assert "/runs?trigger=manual&amp;sort=programme" in page
    descending = run_statuses(client.get("/runs?sort=-status").get_data(as_text=True))
    assert descending == sorted(descending, reverse=True)
    codes = re.findall(r'<td><a href="/programmes/([A-Z]+)">',
                       client.get("/runs?sort=-programme").get_data(as_text=True))
    assert codes == sorted(codes, reverse=True) and codes[0] == "ZETA"
    # Sorted by programme and filtered by one: only that programme's runs and alerts.
    for url in ("/runs?sort=programme&programme=ALPHA",
                "/alerts?sort=-programme&programme=ALPHA&state=all"):
        shown = set(re.findall(r'<td><a href="/programmes/([A-Z]+)">',
                               client.get(url).get_data(as_text=True)))
        assert shown == {"ALPHA"}, url


def test_the_inbox_sorts_by_severity_and_keeps_its_filters(many, app, client, auth):
    app.config["PAGE_SIZE"] = 5
    auth.login("admin@x.org")
    page = client.get("/alerts?state=all&sort=-severity").get_data(as_text=True)
    severities = re.findall(r'<span class="badge sev-([a-z]+)">', page)
    assert severities == sorted(severities, key=["info", "warning", "error", "critical"].index,
                                reverse=True) and severities[0] == "critical"
    assert 'aria-sort="descending"' in page
    assert "/alerts?state=all&amp;sort=state" in page
    states = re.findall(r'data-state="([a-z]+)"',
                        client.get("/alerts?state=all&sort=state").get_data(as_text=True))
    assert states == sorted(states) and len(set(states)) == 2  # a page of five: 3 ack, 2 open
    # The next page's link carries the sort: following it continues the same order.
    first = client.get("/alerts?state=all&sort=programme").get_data(as_text=True)
    following = re.search(r'href="([^"]+)" rel="next"', first)
    assert following and "sort=programme" in following.group(1)
    second = client.get(html.unescape(following.group(1))).get_data(as_text=True)
    codes = [re.findall(r'<td><a href="/programmes/([A-Z]+)">', p) for p in (first, second)]
    assert codes[0] + codes[1] == sorted(codes[0] + codes[1])


@pytest.mark.parametrize("sort", ["nonsense", "--status", "-", "status;drop", "x" * 500,
                                  "severity", "requested_by"])
def test_an_unknown_sort_gives_the_default_order(many, client, auth, sort):
    auth.login("admin@x.org")
    default = client.get("/runs").get_data(as_text=True)
    response = client.get(f"/runs?sort={sort}")
    assert response.status_code == 200
    assert run_statuses(response.get_data(as_text=True)) == run_statuses(default)
    assert client.get(f"/alerts?sort={sort.replace('severity', 'trigger')}").status_code == 200


def test_a_cursor_from_another_sort_shows_the_first_page(many, team):
    admin = team["users"]["admin"]
    by_status = list_runs(admin, RunFilters(sort="status"), per_page=3)
    by_time = list_runs(admin, RunFilters(), per_page=3)
    # A time-sorted list given a status cursor (a hand-edited URL) starts again at the top.
    again = list_runs(admin, RunFilters(), after=by_status.next_cursor, per_page=3)
    assert [r.id for r in again.items] == [r.id for r in by_time.items]
