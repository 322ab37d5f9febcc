"""Lists people can work with: sortable programme columns, archived programmes on request,
runs filtered by programme, and the users admin searched and paged."""

from __future__ import annotations

import re

from portal.services.user_list import USERS_PER_PAGE
from tests.factories import gen_alert, gen_programme, gen_run, gen_steward, gen_user


def codes(html: str) -> list[str]:
    return re.findall(r'<td><a href="/programmes/([A-Z0-9_-]+)">', html)


def test_programme_list_sorts_by_a_column_both_ways_and_shows_archived_on_request(
        team, client, auth):
    admin = team["users"]["admin"]
    gen_alert(gen_programme("ALPHA"), rule_id="x")
    gen_programme("ZETA")
    gen_steward(gen_programme("OLD", active=False), admin, "owner")
    auth.login("admin@x.org")
    assert codes(client.get("/").get_data(as_text=True)) == ["ALPHA", "BIRDS", "ZETA"]
    by_code_desc = client.get("/?sort=-code").get_data(as_text=True)
    assert codes(by_code_desc) == ["ZETA", "BIRDS", "ALPHA"]
    assert 'aria-sort="descending"' in by_code_desc
    assert codes(client.get("/?sort=-alerts").get_data(as_text=True))[0] == "ALPHA"
    assert codes(client.get("/?sort=nonsense").get_data(as_text=True)) == [
        "ALPHA", "BIRDS", "ZETA"]
    archived = client.get("/?archived=yes").get_data(as_text=True)
    assert codes(archived) == ["ALPHA", "BIRDS", "OLD", "ZETA"]
    assert "archived</span>" in archived


def test_runs_list_filters_by_programme_within_the_users_scope(team, client, auth):
    other = gen_programme("OTHER")
    gen_run(team["programme"], status="failed")
    gen_run(other, status="succeeded")
    auth.login("reviewer@x.org")  # sees BIRDS only
    page = client.get("/runs").get_data(as_text=True)
    assert '<option value="BIRDS"' in page and "OTHER" not in page
    assert client.get("/runs?programme=BIRDS").get_data(as_text=True).count("/runs/") >= 1
    assert "No runs" in client.get("/runs?programme=OTHER").get_data(as_text=True)
    auth.logout()
    auth.login("admin@x.org")
    only_other = client.get("/runs?programme=OTHER").get_data(as_text=True)
    assert ">OTHER</a>" in only_other and ">BIRDS</a>" not in only_other


def test_users_admin_searches_and_pages(team, client, auth):
    for n in range(USERS_PER_PAGE + 5):
        gen_user(f"volunteer{n:02d}@birds.example")
    auth.login("admin@x.org")
    first = client.get("/admin/users").get_data(as_text=True)
    assert "page 1 of 2" in first and 'rel="next"' in first
    found = client.get("/admin/users?q=VOLUNTEER0").get_data(as_text=True)
    assert found.count("volunteer0") == 10 and "admin@x.org" not in found
    assert "No user matches" in client.get("/admin/users?q=100%25").get_data(as_text=True)
    admins = client.get("/admin/users?status=admin").get_data(as_text=True)
    assert "admin@x.org" in admins and "volunteer" not in admins


def test_runs_read_oldest_first_page_by_page_and_back(team):
    from datetime import UTC, datetime, timedelta

    from portal.services.queries import RunFilters, list_runs

    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [gen_run(team["programme"], queued_at=start + timedelta(hours=n)) for n in range(5)]
    admin = team["users"]["admin"]
    oldest_first = RunFilters(sort="queued")
    pages, cursor = [], None
    while True:
        page = list_runs(admin, oldest_first, after=cursor, per_page=2)
        pages.append([r.uuid for r in page.items])
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == [[r.uuid for r in runs[i:i + 2]] for i in (0, 2, 4)]
    back = list_runs(admin, oldest_first, before=page.prev_cursor, per_page=2)
    assert [r.uuid for r in back.items] == [runs[2].uuid, runs[3].uuid]
    newest = list_runs(admin, RunFilters(), per_page=2)
    assert [r.uuid for r in newest.items] == [runs[4].uuid, runs[3].uuid]


def test_alerts_and_audit_sort_by_their_columns(team, client, auth):
    from datetime import UTC, datetime

    early = gen_alert(team["programme"], rule_id="early",
                      last_seen_at=datetime(2025, 1, 1, tzinfo=UTC))
    gen_alert(team["programme"], rule_id="late", last_seen_at=datetime(2026, 1, 1, tzinfo=UTC))
    auth.login("admin@x.org")
    newest = client.get("/alerts").get_data(as_text=True)
    oldest = client.get("/alerts?sort=seen").get_data(as_text=True)
    assert newest.index("<code>late</code>") < newest.index("<code>early</code>")
    assert oldest.index("<code>early</code>") < oldest.index("<code>late</code>")
    assert 'aria-sort="ascending"' in oldest and early.uuid in oldest
    by_action = client.get("/audit?sort=action").get_data(as_text=True)
    actions = re.findall(r"<td><code>([a-z_]+)</code></td>", by_action)
    assert actions and actions == sorted(actions)
