"""Hostile page cursors (``after`` / ``before``) on the keyset lists: anything that is
not a cursor this portal wrote shows the first page, never an error or other rows."""

from __future__ import annotations

import pytest

from tests.factories import gen_alert, gen_programme, gen_run, gen_user

HOSTILE = ["garbage", "MjAyNi0wMS0wMXw1",  # a date without a time zone
           "JyBPUiAxPTEgLS18MQ", "x" * 500, "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxhYmM",
           "%E2%80%AE", "../../etc/passwd"]


@pytest.mark.parametrize("cursor", HOSTILE)
@pytest.mark.parametrize("name", ["after", "before"])
def test_hostile_cursors_show_the_first_page(app, client, auth, cursor, name):
    gen_user("member@x.org")
    gen_user("admin@x.org", is_admin=True)
    programme = gen_programme("BIRDS")
    alert = gen_alert(programme)
    run = gen_run(programme)
    auth.login("admin@x.org")
    for url, expected in ((f"/alerts?{name}={cursor}", alert.uuid),
                          (f"/runs?{name}={cursor}", run.uuid)):
        response = client.get(url)
        assert response.status_code == 200
        assert expected in response.get_data(as_text=True)


def test_a_cursor_does_not_widen_the_scope(app, client, auth):
    gen_user("outsider@x.org")
    alert = gen_alert(gen_programme("BIRDS"))
    auth.login("outsider@x.org")
    page = client.get("/alerts?after=MjA5OS0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk").get_data(
        as_text=True)
    assert alert.uuid not in page and "BIRDS" not in page
