"""The access matrix (issue 2, table in DESIGN invariant 6), over every route and role.

The expectations are written out here literally, not derived from portal.access, so
a wrong rule in the code fails this test.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import access
from portal.extensions import db
from tests.factories import (
    gen_alert,
    gen_institution,
    gen_programme,
    gen_run,
    gen_steward,
    gen_user,
)

ROLES = ["admin", "owner", "steward", "operator", "reviewer", "member", "outsider",
         "inactive_steward"]

#: action -> roles allowed (from the issue's table)
ALLOWED = {
    "view": {"admin", "owner", "steward", "operator", "reviewer", "member"},
    "edit": {"admin", "owner", "steward"},
    "manage_stewards": {"admin", "owner"},
    "run": {"admin", "owner", "steward", "operator"},
    "triage": {"admin", "owner", "steward", "operator", "reviewer"},
}
SEE = ALLOWED["view"]

#: Every programme-scoped route: (method, url template, action, status when allowed).
#: Templates may use {code}, {run}, {alert}. Grow this list with every new route.
PROGRAMME_ROUTES: list[tuple[str, str, str, int | tuple[int, ...]]] = [
    ("GET", "/programmes/{code}", "view", 200),
    ("GET", "/api/v1/programmes/{code}", "view", 200),
]

#: Routes that are not programme-scoped, with who may use them.
OTHER_ROUTES = {
    "/login": "public",
    "/logout": "signed_in",
    "/": "signed_in",
    "/api/v1/programmes": "signed_in",
    "/admin/users": "admin",
    "/admin/users/<int:user_id>": "admin",
    "/admin/institutions": "admin",
    "/static/<path:filename>": "public",
}


@pytest.fixture
def world(app):
    """One programme, a user per role, a run and an alert on it."""
    inst = gen_institution("MEMB")
    programme = gen_programme("MATRIX", institutions=[inst])
    other = gen_programme("ELSEWHERE")
    users = {
        "admin": gen_user("admin@x.org", is_admin=True),
        "member": gen_user("member@x.org", institutions=[inst]),
        "outsider": gen_user("outsider@x.org"),
    }
    for role in ("owner", "steward", "operator", "reviewer"):
        users[role] = gen_user(f"{role}@x.org")
        gen_steward(programme, users[role], role)
        gen_steward(other, users["outsider"], role)  # roles elsewhere grant nothing here
    users["inactive_steward"] = gen_user("inactive@x.org")
    gen_steward(programme, users["inactive_steward"], "owner", active=False)
    run = gen_run(programme)
    alert = gen_alert(programme)
    return {"programme": programme, "users": users, "run": run, "alert": alert}


def expected_status(role: str, action: str, ok: int | tuple[int, ...]) -> set[int]:
    if role not in SEE:
        return {404}
    if role in ALLOWED[action]:
        return set(ok) if isinstance(ok, tuple) else {ok}
    return {403}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,template,action,ok", PROGRAMME_ROUTES)
def test_access_matrix(world, client, auth, role, method, template, action, ok):
    auth.login(world["users"][role].email)
    url = template.format(code=world["programme"].code, run=world["run"].uuid,
                          alert=world["alert"].uuid)
    if method == "GET":
        response = client.get(url)
    else:
        response = auth.post_json(url) if url.startswith("/api/") else auth.post(url)
    assert response.status_code in expected_status(role, action, ok), (
        f"{role} {method} {url}: {response.status_code}"
    )
    if response.status_code == 403:
        assert "Only the programme" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_can_matches_table(world, role, action):
    user = world["users"][role]
    assert access.can(user, action, world["programme"]) == (role in ALLOWED[action])


def test_every_route_is_in_the_matrix(app):
    covered = {template for _, template, _, _ in PROGRAMME_ROUTES}
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    unlisted = set()
    for rule in rules:
        as_template = (rule.replace("<code>", "{code}").replace("<run_uuid>", "{run}")
                       .replace("<alert_uuid>", "{alert}"))
        if as_template not in covered and rule not in OTHER_ROUTES:
            unlisted.add(rule)
    assert not unlisted, f"routes missing from the access matrix: {sorted(unlisted)}"


@pytest.mark.parametrize("role,codes", [
    ("admin", {"MATRIX", "ELSEWHERE"}),
    ("member", {"MATRIX"}),
    ("reviewer", {"MATRIX"}),
    ("inactive_steward", set()),
    ("outsider", {"ELSEWHERE"}),
])
def test_scoping_is_one_query(world, role, codes):
    from sqlalchemy import event

    statements = []
    user = world["users"][role]
    _ = user.is_admin  # load the user first: only the scoping query is counted

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        rows = db.session.scalars(access.visible_programmes(user)).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert {p.code for p in rows} == codes
    assert len(statements) == 1


def test_anonymous_is_sent_to_sign_in(world, client):
    response = client.get("/programmes/MATRIX")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    api = client.get("/api/v1/programmes/MATRIX")
    assert api.status_code == 401 and api.is_json and "token" in api.json["message"]


def test_admin_area_is_hidden_from_non_admins(world, client, auth):
    auth.login("owner@x.org")
    assert client.get("/admin/users").status_code == 404
    auth.logout()
    auth.login("admin@x.org")
    assert client.get("/admin/users").status_code == 200


def test_programme_list_shows_only_visible(world, client, auth):
    auth.login("member@x.org")
    page = client.get("/").get_data(as_text=True)
    assert "MATRIX" in page and "ELSEWHERE" not in page
    listed = client.get("/api/v1/programmes").json
    assert [p["code"] for p in listed["items"]] == ["MATRIX"]
    assert db.session.scalar(select(db.func.count()).select_from(
        access.visible_programmes(world["users"]["member"]).subquery())) == 1
