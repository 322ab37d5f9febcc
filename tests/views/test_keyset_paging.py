"""Keyset pages (alert inbox, runs list): following "Older →" and then "← Newer" shows
every row exactly once, in order, even when many rows share the same sort time; the
count stops at 1,000+."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape

from sqlalchemy import insert, select

from portal.extensions import db
from portal.models import MonitoringProgrammeAlert, User, utcnow
from portal.services.queries import AlertFilters, list_alerts
from tests.factories import gen_alert, gen_programme, gen_run, gen_user

ALERT = re.compile(r'<tbody id="alert-([0-9a-f-]{36})"')
RUN = re.compile(r'<td><a href="/runs/([0-9a-f-]{36})"')


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return unescape(found.group(1)) if found else None


def _walk(client, url: str, pattern: re.Pattern, rel: str) -> tuple[list[list[str]], str]:
    """Follow ``rel`` links from ``url``; return the ids on each page and the last URL."""
    pages = []
    while True:
        page = client.get(url).get_data(as_text=True)
        pages.append(pattern.findall(page))
        following = _link(page, rel)
        if following is None:
            return pages, url
        url = following


def test_alert_pages_show_every_alert_once_with_tied_times(app, client, auth):
    app.config["PAGE_SIZE"] = 3
    gen_user("admin@x.org", is_admin=True)
    programme = gen_programme("BIRDS")
    tied, now = utcnow() - timedelta(hours=1), utcnow()
    alerts = [gen_alert(programme, rule_id=f"tied-{n}", last_seen_at=tied) for n in range(7)]
    alerts += [gen_alert(programme, rule_id=f"own-{n}", last_seen_at=now - timedelta(minutes=n))
               for n in range(4)]
    expected = [a.uuid for a in sorted(alerts, key=lambda a: (a.last_seen_at, a.id),
                                       reverse=True)]
    auth.login("admin@x.org")

    forward, last_url = _walk(client, "/alerts", ALERT, "next")
    assert [len(p) for p in forward] == [3, 3, 3, 2]
    assert [u for p in forward for u in p] == expected
    backward, _ = _walk(client, last_url, ALERT, "prev")
    assert backward == forward[::-1]
    assert "11 alerts" in client.get("/alerts").get_data(as_text=True)


def test_run_pages_show_every_run_once_with_tied_times(app, client, auth):
    app.config["PAGE_SIZE"] = 4
    gen_user("admin@x.org", is_admin=True)
    programme = gen_programme("BIRDS")
    tied = utcnow() - timedelta(days=1)
    runs = [gen_run(programme, queued_at=tied) for _ in range(6)]
    runs += [gen_run(programme, queued_at=tied + timedelta(minutes=n + 1)) for n in range(3)]
    expected = [r.uuid for r in sorted(runs, key=lambda r: (r.queued_at, r.id), reverse=True)]
    auth.login("admin@x.org")
    for url in ("/runs", "/programmes/BIRDS/runs?status=succeeded"):
        forward, last_url = _walk(client, url, RUN, "next")
        assert [u for p in forward for u in p] == expected
        backward, _ = _walk(client, last_url, RUN, "prev")
        assert backward == forward[::-1]


def test_every_page_counts_the_same_total_also_past_either_end(app, client, auth):
    """The rows of a page carry the count; a cursor that leads past the rows (a stale
    link: the rows around it were resolved meanwhile) still shows the right total."""
    app.config["PAGE_SIZE"] = 2
    gen_user("admin@x.org", is_admin=True)
    programme = gen_programme("BIRDS")
    now = utcnow()
    alerts = [gen_alert(programme, rule_id=f"r{n}", last_seen_at=now - timedelta(minutes=n))
              for n in range(5)]
    auth.login("admin@x.org")
    first = client.get("/alerts").get_data(as_text=True)
    pages, last_url = _walk(client, "/alerts", ALERT, "next")
    assert [len(p) for p in pages] == [2, 2, 1]
    last = client.get(last_url).get_data(as_text=True)
    assert "5 alerts" in first and "5 alerts" in last
    newer = _link(first, "next")
    for alert in alerts[2:]:  # every alert after the first page's is resolved
        alert.state = "resolved"
    db.session.commit()
    stale = client.get(newer).get_data(as_text=True)
    assert ALERT.findall(stale) == [] and "No alerts here" in stale
    cursor = newer.split("after=")[1].split("&")[0]
    admin = db.session.scalar(select(User).filter_by(email="admin@x.org"))
    past = list_alerts(admin, AlertFilters(), after=cursor, per_page=2)
    assert past.items == [] and past.total == 2  # counted apart: no row carried it
    everything = client.get(newer.replace("/alerts?", "/alerts?state=all&")).get_data(
        as_text=True)
    assert len(ALERT.findall(everything)) == 2 and "5 alerts" in everything


def test_the_inbox_count_stops_at_a_thousand(app, client, auth):
    gen_user("admin@x.org", is_admin=True)
    programme = gen_programme("BIRDS")
    now = utcnow()
    db.session.execute(insert(MonitoringProgrammeAlert), [{
        "uuid": str(uuid.uuid4()), "programme_id": programme.id, "rule_id": f"r{n}",
        "severity": "error", "state": "open", "message": "m", "details_json": {},
        "occurrence_count": 1, "first_seen_at": now, "last_seen_at": now,
    } for n in range(1001)])
    db.session.commit()
    auth.login("admin@x.org")
    page = client.get("/alerts").get_data(as_text=True)
    assert "1,000+ alerts" in page and 'rel="next"' in page and 'rel="prev"' not in page
