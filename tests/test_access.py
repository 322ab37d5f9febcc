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
    # issue 6: uploading data files; creating (cloning) needs "admin or owns a programme"
    "upload": {"admin", "owner", "steward", "operator"},
    "create": {"admin", "owner"},
    # issue 15: a programme's webhooks and their delivery log
    "manage_webhooks": {"admin", "owner"},
    # issue 16: sign off a release candidate; withdraw a published release
    "review": {"admin", "owner", "steward", "reviewer"},
    "withdraw": {"admin", "owner"},
}
SEE = ALLOWED["view"]

#: Every programme-scoped route: (method, url template, action, status when allowed).
#: Templates may use {code}, {run}, {alert}. Grow this list with every new route.
PROGRAMME_ROUTES: list[tuple[str, str, str, int | tuple[int, ...]]] = [
    ("GET", "/programmes/{code}", "view", 200),
    ("GET", "/api/v1/programmes/{code}", "view", 200),
    # issue 5: programme pages and actions
    ("GET", "/programmes/{code}/edit", "edit", 200),
    ("POST", "/programmes/{code}/edit", "edit", 400),  # empty form: refused by validation
    ("GET", "/programmes/{code}/stewards", "manage_stewards", 200),
    ("POST", "/programmes/{code}/stewards", "manage_stewards", 400),  # empty form
    ("GET", "/programmes/{code}/run", "run", 200),  # the confirmation page
    ("POST", "/programmes/{code}/run", "run", 302),
    ("POST", "/programmes/{code}/dry-run", "run", 302),
    ("GET", "/programmes/{code}/runs", "view", 200),
    # runs
    ("GET", "/runs/{run}", "view", 200),
    ("POST", "/runs/{run}/cancel", "run", 409),  # the matrix run has already finished
    ("GET", "/runs/{run}/openlineage.json", "view", 200),
    ("GET", "/runs/{run}/rejections.csv", "view", 404),  # no report kept: see tests/views
    # alerts
    ("POST", "/alerts/{alert}/acknowledge", "triage", 302),
    ("POST", "/alerts/{alert}/resolve", "triage", 302),  # no note: refused, flashed
    # JSON API
    ("POST", "/api/v1/programmes/{code}/runs", "run", 201),
    ("GET", "/api/v1/runs/{run}", "view", 200),
    ("POST", "/api/v1/alerts/{alert}/acknowledge", "triage", 200),
    ("POST", "/api/v1/alerts/{alert}/resolve", "triage", 400),  # a note is required
    # issue 6: authoring
    ("GET", "/programmes/{code}/clone", "create", 200),
    ("POST", "/programmes/{code}/clone", "create", 400),  # empty form
    ("POST", "/programmes/{code}/archive", "manage_stewards", 302),
    ("GET", "/programmes/{code}/inbox", "view", 200),
    ("POST", "/programmes/{code}/inbox", "upload", 400),  # no file sent
    ("GET", "/programmes/{code}/pipeline/edit", "edit", 200),
    ("POST", "/programmes/{code}/pipeline/edit", "edit", 200),  # no action: the draft again
    ("GET", "/programmes/{code}/rules/edit", "edit", 200),
    ("POST", "/programmes/{code}/rules/edit", "edit", 200),
    ("GET", "/programmes/{code}/rules/preview/{job}", "edit", 200),  # "expired" message
    ("POST", "/api/v1/programmes/{code}/files", "upload", 400),  # no file sent
    # issue 15: notifications
    ("GET", "/programmes/{code}/webhooks", "manage_webhooks", 200),
    ("POST", "/programmes/{code}/webhooks", "manage_webhooks", 400),  # empty form
    ("POST", "/programmes/{code}/webhooks/delete", "manage_webhooks", 302),  # no id: flashed
    ("POST", "/programmes/{code}/notifications/resend", "manage_webhooks", 302),  # none dead
    ("GET", "/programmes/{code}/expected-delivery", "view", 200),
    ("POST", "/programmes/{code}/expected-delivery", "edit", 400),  # empty form
    # issue 14: programmes as code (creation: tests/api/test_programme_documents.py)
    ("GET", "/api/v1/programmes/{code}/document", "view", 200),
    ("PATCH", "/api/v1/programmes/{code}", "edit", 428),  # no If-Match: precondition required
    # issue 14: re-run / resume and full step logs (the matrix run has no steps, so no log:
    # logs are checked by role in tests/views/test_run_repeat.py)
    ("POST", "/runs/{run}/rerun", "run", 302),
    ("POST", "/api/v1/runs/{run}/rerun", "run", 201),
    ("GET", "/runs/{run}/steps/{step}/log", "view", 404),
    ("GET", "/api/v1/runs/{run}/steps/{step}/log", "view", 404),
    # issue 16: release pages and the sign-off gate. The matrix programme has no release
    # and no candidate, so an allowed role gets 404 for them; real ones, by role, in
    # tests/views/test_release_pages.py and tests/engine/test_release_review.py.
    ("GET", "/programmes/{code}/releases/{version}", "view", 404),
    ("POST", "/programmes/{code}/releases/{version}/withdraw", "withdraw", 404),
    ("GET", "/programmes/{code}/candidates/{candidate}", "view", 404),
    ("POST", "/programmes/{code}/candidates/{candidate}/approve", "review", 404),
    ("POST", "/programmes/{code}/candidates/{candidate}/reject", "review", 404),
    ("POST", "/programmes/{code}/review-settings", "edit", 302),
    ("GET", "/api/v1/programmes/{code}/releases", "view", 200),
    ("GET", "/api/v1/programmes/{code}/releases/{version}", "view", 404),
    ("POST", "/api/v1/programmes/{code}/releases/{version}/withdraw", "withdraw", 404),
    ("GET", "/api/v1/programmes/{code}/candidates", "view", 200),
    ("GET", "/api/v1/programmes/{code}/candidates/{candidate}", "view", 404),
    ("POST", "/api/v1/programmes/{code}/candidates/{candidate}/approve", "review", 404),
    ("POST", "/api/v1/programmes/{code}/candidates/{candidate}/reject", "review", 404),
]

#: Routes that are not programme-scoped, with who may use them.
OTHER_ROUTES = {
    "/login": "public",
    "/logout": "signed_in",
    "/": "signed_in",
    "/api/v1/programmes": "signed_in",
    "/admin/users": "admin",
    "/admin/users/<int:user_id>": "admin",
    "/admin/users/<int:user_id>/force-password-reset": "admin",
    "/admin/institutions": "admin",
    # issue 9: shared folders (see test_shared_folder_admin_is_admin_only)
    "/admin/shared-folders": "admin",
    "/admin/shared-folders/<name>/grant": "admin",
    "/admin/shared-folders/<name>/revoke": "admin",
    "/static/<path:filename>": "public",
    # issue 5
    "/runs": "signed_in (scoped)",
    "/alerts": "signed_in (scoped)",
    # issue 14: each chosen alert needs triage on its programme (test_bulk_triage_by_role)
    "/alerts/bulk": "signed_in (per alert: triage)",
    "/audit": "signed_in (admins: all; others: programmes they may edit)",
    "/audit.csv": "signed_in (admins: all; others: programmes they may edit)",
    "/reports/metrics": "signed_in (scoped)",
    "/metrics": "METRICS_TOKEN bearer or admin session",
    "/health": "signed_in (programmes scoped)",
    "/account/tokens": "signed_in (own tokens)",
    "/account/tokens/<int:token_id>/revoke": "signed_in (own tokens)",
    # issue 9: sessions (CSRF-less POSTs refused: tests/security/test_sessions.py)
    "/account/password": "signed_in (own password)",
    "/account/sign-out-everywhere": "signed_in (own sessions)",
    # issue 14: the time zone a user reads times in (tests/security/test_time_zone.py)
    "/account/preferences": "signed_in (own preferences)",
    "/api/v1/me": "signed_in (own account; PATCH: own time zone)",
    "/api/v1/metrics": "signed_in (scoped)",
    "/api/v1/openapi.json": "public",
    # view access, tested in tests/views/test_programme_pages.py (needs a release on disk)
    "/programmes/<code>/releases/<path:release_path>": "programme view",
    # issue 6
    "/programmes/new": "admins and programme owners (see test_create_page_by_role)",
    "/docs": "signed_in",
    # issue 15 (tests/security/test_notifications.py: a user's own choices only)
    "/account/notifications": "signed_in (own subscriptions)",
}


@pytest.fixture
def world(app):
    """One programme, a user per role, a run and an alert on it."""
    inst = gen_institution("MEMB")
    programme = gen_programme("MATRIX", institutions=[inst], pipeline_definition_json={
        "steps": [{"key": "ingest", "type": "ingest.csv", "params": {"source": "a.csv"}}]})
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
                          alert=world["alert"].uuid, job="no-such-job", step="ingest",
                          version="9.9", candidate="no-such-candidate")
    if method == "GET":
        response = client.get(url)
    elif method != "POST":
        response = client.open(url, method=method, json={},
                               headers={"X-CSRFToken": auth.csrf_token("/")})
    else:
        response = auth.post_json(url) if url.startswith("/api/") else auth.post(url)
    assert response.status_code in expected_status(role, action, ok), (
        f"{role} {method} {url}: {response.status_code}"
    )
    if response.status_code == 403:
        body = response.get_data(as_text=True)
        assert "Only the programme" in body or "Only admins and programme owners" in body


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(set(ALLOWED) - {"create"}))
def test_can_matches_table(world, role, action):
    user = world["users"][role]
    assert access.can(user, action, world["programme"]) == (role in ALLOWED[action])


def test_every_route_is_in_the_matrix(app):
    covered = {template for _, template, _, _ in PROGRAMME_ROUTES}
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    unlisted = set()
    for rule in rules:
        as_template = (rule.replace("<code>", "{code}").replace("<run_uuid>", "{run}")
                       .replace("<alert_uuid>", "{alert}").replace("<job_id>", "{job}")
                       .replace("<step_key>", "{step}").replace("<version>", "{version}")
                       .replace("<candidate_uuid>", "{candidate}"))
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


SHARED_FOLDER_ROUTES = [("GET", "/admin/shared-folders", 200),
                        ("POST", "/admin/shared-folders", 400),  # empty form
                        ("POST", "/admin/shared-folders/ref/grant", 302),
                        ("POST", "/admin/shared-folders/ref/revoke", 302)]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,url,ok", SHARED_FOLDER_ROUTES)
def test_shared_folder_admin_is_admin_only(world, client, auth, role, method, url, ok):
    from portal.models import SharedFolder

    db.session.add(SharedFolder(name="ref", path="reference", description=""))
    db.session.commit()
    auth.login(world["users"][role].email)
    response = client.get(url) if method == "GET" else auth.post(url)
    assert response.status_code == (ok if role == "admin" else 404), f"{role} {method} {url}"


def test_programme_list_shows_only_visible(world, client, auth):
    auth.login("member@x.org")
    page = client.get("/").get_data(as_text=True)
    assert "MATRIX" in page and "ELSEWHERE" not in page
    listed = client.get("/api/v1/programmes").json
    assert [p["code"] for p in listed["items"]] == ["MATRIX"]
    assert db.session.scalar(select(db.func.count()).select_from(
        access.visible_programmes(world["users"]["member"]).subquery())) == 1


@pytest.mark.parametrize("role", ROLES)
def test_create_page_by_role(world, client, auth, role):
    """Admins and anyone owning a programme may create one; others get 403 with the reason."""
    auth.login(world["users"][role].email)
    response = client.get("/programmes/new")
    creators = {"admin", "owner", "outsider"}  # the outsider owns ELSEWHERE
    assert access.can_create_programme(world["users"][role]) == (role in creators)
    assert response.status_code == (200 if role in creators else 403), role
    if response.status_code == 403:
        assert "Only admins and programme owners" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
def test_bulk_triage_by_role(world, client, auth, role):
    """Bulk acknowledge changes only alerts the role may triage; others read as not found
    (out of scope) or refused with the reason; the page itself is always a redirect."""
    auth.login(world["users"][role].email)
    response = auth.post("/alerts/bulk", {"action": "acknowledge", "note": "bulk",
                                          "alert": [world["alert"].uuid]})
    assert response.status_code == 302
    db.session.expire_all()
    state = db.session.get(type(world["alert"]), world["alert"].id).state
    assert state == ("acknowledged" if role in ALLOWED["triage"] else "open"), role
    flashed = client.get("/alerts").get_data(as_text=True)
    if role in ALLOWED["triage"]:
        assert "1 alert acknowledged." in flashed
    elif role in SEE:
        assert "Only the programme" in flashed
    else:
        assert "not found" in flashed


LIST_SCOPES = {"admin": {"MATRIX", "ELSEWHERE"}, "member": {"MATRIX"}, "owner": {"MATRIX"},
               "reviewer": {"MATRIX"}, "inactive_steward": set(), "outsider": {"ELSEWHERE"}}


def test_lists_built_once_per_shape_scope_each_user_by_their_own_id(world):
    """The programme, run and alert lists build their statements once per shape of filters
    and bind the viewer per request: users asking one after the other, through the very
    same statements, each see their own programmes only."""
    from portal.models import MonitoringProgramme
    from portal.services import paging, queries

    elsewhere = db.session.scalar(select(MonitoringProgramme).filter_by(code="ELSEWHERE"))
    gen_run(elsewhere)
    gen_alert(elsewhere)
    hits_before = (queries._programme_list_statements.cache_info().hits,
                   queries._alert_list_query.cache_info().hits,
                   queries._run_list_query.cache_info().hits,
                   paging._keyset_statements.cache_info().hits)
    for _ in range(2):  # the second pass reads every list through statements already built
        for role, codes in LIST_SCOPES.items():
            user = world["users"][role]
            programmes = queries.list_programmes(user, queries.ProgrammeFilters())
            assert {row.programme.code for row in programmes.items} == codes, role
            assert programmes.total == len(codes), role
            runs = queries.list_runs(user, queries.RunFilters())
            assert {run.programme.code for run in runs.items} == codes, role
            alerts = queries.list_alerts(user, queries.AlertFilters())
            assert {alert.programme.code for alert in alerts.items} == codes, role
            assert alerts.total == len(codes), role
    hits_after = (queries._programme_list_statements.cache_info().hits,
                  queries._alert_list_query.cache_info().hits,
                  queries._run_list_query.cache_info().hits,
                  paging._keyset_statements.cache_info().hits)
    assert all(after >= before + len(LIST_SCOPES) for before, after
               in zip(hits_before, hits_after, strict=True)), (hits_before, hits_after)


#: Each role's roles on the MATRIX programme of ``world``, written out.
ROLES_ON_MATRIX = {"owner": {"owner"}, "steward": {"steward"}, "operator": {"operator"},
                   "reviewer": {"reviewer", "operator"},  # given both, below
                   "member": {"member"}, "outsider": set(), "inactive_steward": set()}


@pytest.mark.parametrize("role", sorted(ROLES_ON_MATRIX))
def test_roles_come_with_the_programme_or_run_they_are_on(app, world, role):
    """A programme page (and a run page) reads the viewer's roles in the statement that
    loads the programme (the run): the roles are exactly theirs, whether they may create
    programmes is answered too, and authorising costs no statement of its own."""
    from flask import g
    from flask_login import login_user
    from sqlalchemy import event

    from portal.services.queries import load_run

    user, programme, run_uuid = world["users"][role], world["programme"], world["run"].uuid
    if role == "reviewer":
        gen_steward(programme, user, "operator")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    # the programme's statement; the run's and its steps' (Flask-Login's loader does not
    # run: the user is given)
    for load, reads in ((lambda: access.load_programme("MATRIX"), 1),
                        (lambda: load_run(run_uuid, user), 2)):
        with app.test_request_context("/"):
            login_user(user)
            event.listen(db.engine, "before_cursor_execute", count)
            try:
                statements.clear()
                try:
                    load()
                except Exception:  # noqa: BLE001 — 404 for those who may not see it
                    pass
                roles = access.roles_on(user, programme)
                creates = access.can_create_programme(user)
                read = len(statements)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
            assert roles == ROLES_ON_MATRIX[role], role
            assert creates == (role in {"owner", "outsider"}), role  # outsider owns ELSEWHERE
            g.pop("_roles_cache")
            g.pop("_owns_a_programme")
            assert access.roles_on(user, programme) == roles  # roles_on's own statement
        assert read == reads, (role, statements)
