"""One rule for every time shown: a programme's things in its zone, the portal's own records
in UTC; zone and seconds always shown; the exact UTC instant in ``<time datetime>``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from portal.extensions import db
from portal.services import audit
from portal.template_helpers import ago, timestamp
from tests.factories import gen_run

WINTER = datetime(2026, 1, 15, 7, 5, 9, 250_000, tzinfo=UTC)  # 08:05:09 in Madrid (CET)
TIME_RE = re.compile(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>')


def test_timestamp_shows_zone_and_seconds_with_the_exact_time_in_its_tooltip():
    html = str(timestamp(WINTER, "Europe/Madrid"))
    assert TIME_RE.fullmatch(html).groups() == (
        "2026-01-15T07:05:09+00:00", "2026-01-15T07:05:09+00:00 (UTC)", "2026-01-15 08:05:09 CET")
    assert "2026-01-15 07:05:09 UTC" in str(timestamp(WINTER, "No/Such_Zone"))  # never fails
    assert str(timestamp(None)) == '<span class="muted">—</span>'
    relative = TIME_RE.fullmatch(str(ago(WINTER, "Europe/Madrid"))).groups()
    assert relative[1] == "2026-01-15 08:05:09 CET" and relative[2].endswith("ago")


def test_run_pages_use_the_programme_zone_and_the_audit_log_utc(team, client, auth):
    programme = team["programme"]  # Europe/Madrid
    run = gen_run(programme, status="succeeded", queued_at=WINTER, started_at=WINTER,
                  finished_at=WINTER)
    audit.record("programme_note", actor=team["users"]["admin"], object_type="programme",
                 object_id=programme.code, programme_id=programme.id)
    db.session.commit()
    auth.login("admin@x.org")
    for url in (f"/runs/{run.uuid}", "/runs", f"/programmes/{programme.code}/runs",
                f"/programmes/{programme.code}"):
        shown = {text for _, _, text in TIME_RE.findall(client.get(url).get_data(as_text=True))}
        assert "2026-01-15 08:05:09 CET" in shown, url
    audit_page = client.get("/audit").get_data(as_text=True)
    assert all(text.endswith(" UTC") and re.search(r"\d\d:\d\d:\d\d", text)
               for _, _, text in TIME_RE.findall(audit_page))
    assert TIME_RE.search(audit_page)
