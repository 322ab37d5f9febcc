"""Hostile sort names and cursors on the sortable keyset lists (runs, alerts): never an
error page, never a row out of scope, and a cursor written for one sort never moves
another sort's page (it reads as no cursor)."""

from __future__ import annotations

import pytest

from portal.services.paging import encode_cursor
from tests.factories import gen_alert, gen_programme, gen_run, gen_steward, gen_user

HOSTILE_SORTS = ["' OR 1=1 --", "-", "--programme", "programme.code", "__class__",
                 "status,trigger", "-" * 300, "ß😀", "severity; DROP TABLE users", "id"]
#: Cursors of every kind, including ones another sort wrote and a code from elsewhere.
CURSORS = [encode_cursor("HIDDEN", 1), encode_cursor(3, 10**9), encode_cursor("' OR 1=1", 1),
           encode_cursor("z" * 150, 0), "cz98MQ", "aXw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5fDE"]


@pytest.fixture
def scoped(app):
    """A reviewer of SEEN; HIDDEN (with a failed run and an alert) is someone else's."""
    seen, hidden = gen_programme("SEEN"), gen_programme("HIDDEN")
    gen_run(seen, status="succeeded")
    gen_alert(seen, rule_id="seen-rule")
    gen_run(hidden, status="failed", trigger="integration")
    gen_alert(hidden, rule_id="hidden-rule", severity="critical")
    gen_steward(seen, gen_user("reviewer@x.org"), "reviewer")
    return seen, hidden


@pytest.mark.parametrize("sort", HOSTILE_SORTS)
def test_hostile_sorts_give_the_default_order_in_scope(scoped, client, auth, sort):
    auth.login("reviewer@x.org")
    for url in ("/runs", "/alerts", "/programmes/SEEN/runs"):
        response = client.get(url, query_string={"sort": sort, "state": "all"})
        assert response.status_code == 200, (url, sort)
        assert "HIDDEN" not in response.get_data(as_text=True)


@pytest.mark.parametrize("cursor", CURSORS)
@pytest.mark.parametrize("sort", ["programme", "-programme", "status", "severity", "-seen"])
def test_cursors_of_any_kind_never_fail_or_widen_the_scope(scoped, client, auth, cursor,
                                                           sort):
    auth.login("reviewer@x.org")
    for url in ("/runs", "/alerts"):
        for name in ("after", "before"):
            response = client.get(url, query_string={"sort": sort, name: cursor})
            assert response.status_code == 200, (url, sort, name)
            page = response.get_data(as_text=True)
            assert "HIDDEN" not in page and "hidden-rule" not in page
