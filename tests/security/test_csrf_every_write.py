"""Every write route, pages and API alike, refuses a signed-in browser's request that
carries no CSRF token: read from the URL map, so a route added later is covered too."""

from __future__ import annotations

import pytest
from werkzeug.routing.converters import NumberConverter

from portal.extensions import db
from portal.models import AuditEvent
from tests.factories import gen_programme, gen_steward, gen_user

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def write_routes(app) -> list[tuple[str, str]]:
    """``(method, url)`` for every write rule, its variables filled with sample values."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        values = {name: 1 if isinstance(converter, NumberConverter) else "P"
                  for name, converter in rule._converters.items()}
        url = rule.build(values, append_unknown=False)[1]
        found += [(method, url) for method in WRITE_METHODS if method in rule.methods]
    return sorted(found)


def test_the_url_map_has_write_routes_to_check(app):
    """The parametrised test below would pass vacuously on an empty list."""
    assert len(write_routes(app)) >= 40


@pytest.mark.parametrize("signed_in_as", ["admin", "steward"])
def test_no_write_route_accepts_a_request_without_its_csrf_token(
        app, client, auth, signed_in_as):
    admin = gen_user("root@example.org", is_admin=True)
    steward = gen_user("steward@example.org")
    gen_steward(gen_programme("P"), steward, "owner")
    auth.login(admin.email if signed_in_as == "admin" else steward.email)
    audited_before = db.session.query(AuditEvent).count()
    accepted = []
    for method, url in write_routes(app):
        response = client.open(url, method=method, data={"note": "x", "title": "x"})
        body = response.get_data(as_text=True)
        if response.status_code != 400 or "security token" not in body:
            accepted.append(f"{method} {url} -> {response.status_code}")
    assert accepted == []
    db.session.expire_all()
    # Nothing was written by any of the refused requests.
    assert db.session.query(AuditEvent).count() == audited_before

