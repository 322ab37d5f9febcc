"""Hostile query strings on the lists (sort, archived, programme filter, users search):
never an error page, never a programme out of scope, wildcards taken literally."""

from __future__ import annotations

import pytest

from tests.factories import gen_programme, gen_run, gen_steward, gen_user

HOSTILE = ["' OR 1=1 --", "%", "_", "\\", "code; DROP TABLE users", "-" * 500, "ß😀",
           "-code,-title", "__class__", "programmes.code"]


@pytest.fixture
def scoped(app):
    """A reviewer of SEEN; HIDDEN (archived) is someone else's; an admin."""
    seen, hidden = gen_programme("SEEN"), gen_programme("HIDDEN", active=False)
    gen_run(hidden, status="failed")
    gen_steward(seen, gen_user("reviewer@x.org"), "reviewer")
    gen_user("admin@x.org", is_admin=True)
    gen_user("under_score@x.org")
    return seen, hidden


@pytest.mark.parametrize("value", HOSTILE)
def test_list_parameters_never_fail_or_widen_the_scope(scoped, client, auth, value):
    auth.login("reviewer@x.org")
    for url, params in [("/", {"sort": value, "archived": "yes"}),
                        ("/", {"archived": value}),
                        ("/runs", {"programme": value}),
                        ("/runs", {"programme": "HIDDEN"})]:
        response = client.get(url, query_string=params)
        assert response.status_code == 200, (url, params)
        assert "HIDDEN" not in response.get_data(as_text=True), (url, params)


@pytest.mark.parametrize("value", HOSTILE)
def test_users_search_takes_wildcards_literally(scoped, client, auth, value):
    auth.login("admin@x.org")
    response = client.get("/admin/users", query_string={"q": value, "page": value,
                                                        "status": value})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    if value == "_":
        assert "under_score@x.org" in body and "reviewer@x.org" not in body
    if value == "%":
        assert "No user matches" in body


def test_users_search_is_admin_only(scoped, client, auth):
    auth.login("reviewer@x.org")
    assert client.get("/admin/users?q=admin").status_code in (403, 404)
