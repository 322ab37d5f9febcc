"""Sessions can be revoked; sign-in reveals nothing; API tokens open the API only.

Every cookie captured before sign-out, password change, deactivation, a forced
reset or "sign out everywhere" is replayed from a fresh client, as an attacker who
copied it would, and must no longer sign anyone in.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.auth.tokens import create_token
from portal.extensions import db
from portal.models import AuditEvent, User, utcnow
from tests.conftest import CSRF_RE
from tests.factories import PASSWORD, gen_programme, gen_steward, gen_user

HOST = "portal.test"
NEW_PASSWORD = "a-much-longer-passphrase-2026"


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token of the page at ``path``."""
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    return match.group(1) or match.group(2)


def sign_in(client, email: str, password: str = PASSWORD, remember: bool = True):
    """Sign in through the form, ticking "Keep me signed in"."""
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def captured_cookies(client) -> dict[str, str]:
    """The session and remember-me cookies the browser holds now."""
    cookies = {}
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name, domain=HOST)
        if cookie is not None:
            cookies[name] = cookie.value
    return cookies


def replay(app, cookies: dict[str, str], path: str = "/"):
    """GET ``path`` from a brand-new client holding only ``cookies``."""
    fresh = app.test_client()
    for name, value in cookies.items():
        fresh.set_cookie(name, value, domain=HOST)
    return fresh.get(path)


def is_sign_in_redirect(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def audit_actions(user_id: int | None = None) -> list[str]:
    query = select(AuditEvent.action).order_by(AuditEvent.id)
    if user_id is not None:
        query = query.where(AuditEvent.object_type == "user",
                            AuditEvent.object_id == str(user_id))
    return list(db.session.scalars(query))


def _sign_out(app, victim, auth):
    auth.logout()


def _sign_out_everywhere(app, victim, auth):
    assert auth.post("/account/sign-out-everywhere").status_code == 302


def _change_password(app, victim, auth):
    client = auth._client
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD, "csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 302, response.get_data(as_text=True)


def _admin_client(app):
    from tests.conftest import AuthActions

    admin_client = app.test_client()
    admin_auth = AuthActions(admin_client)
    assert admin_auth.login("root@example.org").status_code == 302
    return admin_auth


def _deactivate(app, victim, auth):
    admin = _admin_client(app)
    response = admin.post(f"/admin/users/{victim.id}", {"form": "active", "a-active": "0"})
    assert response.status_code == 302


def _force_reset(app, victim, auth):
    admin = _admin_client(app)
    assert admin.post(f"/admin/users/{victim.id}/force-password-reset").status_code == 302


REVOKING_EVENTS = {
    "sign_out": _sign_out,
    "sign_out_everywhere": _sign_out_everywhere,
    "password_change": _change_password,
    "deactivation": _deactivate,
    "forced_reset": _force_reset,
}


@pytest.mark.parametrize("event", sorted(REVOKING_EVENTS))
def test_captured_cookies_stop_working(app, client, auth, event):
    gen_user("root@example.org", is_admin=True)
    victim = gen_user("victim@example.org")
    assert sign_in(client, victim.email).status_code == 302
    cookies = captured_cookies(client)
    assert set(cookies) == {"session", "remember_token"}
    # Positive control: the copied cookies work, together and each on its own.
    assert replay(app, cookies).status_code == 200
    assert replay(app, {"session": cookies["session"]}).status_code == 200
    assert replay(app, {"remember_token": cookies["remember_token"]}).status_code == 200

    REVOKING_EVENTS[event](app, victim, auth)

    for copied in (cookies, {"session": cookies["session"]},
                   {"remember_token": cookies["remember_token"]}):
        response = replay(app, copied)
        assert is_sign_in_redirect(response), (event, sorted(copied), response.status_code)
        api = replay(app, copied, "/api/v1/programmes")
        assert api.status_code == 401 and api.is_json, (event, sorted(copied))


def test_a_remember_cookie_differs_between_sign_ins(app):
    gen_user("twice@example.org")
    first, second = app.test_client(), app.test_client()
    sign_in(first, "twice@example.org")
    first_cookie = captured_cookies(first)["remember_token"]
    first.post("/logout", data={"csrf_token": csrf_token(first)})
    sign_in(second, "twice@example.org")
    assert captured_cookies(second)["remember_token"] != first_cookie


def test_password_change_keeps_this_browser_signed_in(app, client, auth):
    user = gen_user("keep@example.org")
    other_device = app.test_client()
    sign_in(other_device, user.email)
    sign_in(client, user.email)
    _change_password(app, user, auth)
    assert client.get("/").status_code == 200  # this browser stays signed in
    new_remember = captured_cookies(client)["remember_token"]
    assert replay(app, {"remember_token": new_remember}).status_code == 200
    assert is_sign_in_redirect(other_device.get("/"))  # every other session ended
    db.session.expire_all()
    assert user.password_changed_at is not None and user.check_password(NEW_PASSWORD)
    assert "password_changed" in audit_actions(user.id)
    fresh = app.test_client()
    assert sign_in(fresh, user.email, PASSWORD).status_code == 401
    assert sign_in(fresh, user.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("new,expected", [
    ("short", ["at least 12 characters"]),
    ("password1234", ["commonly used"]),
    ("rules@example.org", ["e-mail address"]),
    (PASSWORD, ["must differ"]),
])
def test_password_rules_are_each_named(app, client, auth, new, expected):
    user = gen_user("rules@example.org")
    sign_in(client, user.email)
    response = auth.post("/account/password", {
        "current_password": PASSWORD, "new_password": new, "confirm_password": new})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    for phrase in expected:
        assert phrase in body
    db.session.expire_all()
    assert user.check_password(PASSWORD) and client.get("/").status_code == 200


def test_every_failing_rule_is_named_in_one_round(app, client, auth):
    user = gen_user("ann@ex.org")
    sign_in(client, user.email)
    response = auth.post("/account/password", {
        "current_password": "not-my-password", "new_password": "ann@ex.org",
        "confirm_password": "something else"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    for phrase in ("current password is wrong", "at least 12 characters", "e-mail address",
                   "two new passwords differ"):
        assert phrase in body, phrase
    assert "password_change_failed" in audit_actions(user.id)
    db.session.expire_all()
    assert user.check_password(PASSWORD)


def test_forced_reset_sends_the_user_to_the_change_form(app, client, auth):
    gen_user("root@example.org", is_admin=True)
    user = gen_user("forced@example.org")
    programme = gen_programme("FORCED")
    gen_steward(programme, user, "owner")
    _, secret = create_token(user, "ci")
    bearer = {"Authorization": f"Bearer {secret}"}
    _force_reset(app, user, auth)
    assert "user_password_reset_forced" in audit_actions(user.id)
    assert sign_in(client, user.email).status_code == 302
    for path in ("/", "/runs", "/programmes/FORCED", "/account/tokens"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].endswith("/account/password"), path
    api = app.test_client().get("/api/v1/programmes/FORCED", headers=bearer)
    assert api.status_code == 403 and "new password" in api.json["message"]
    assert client.get("/account/password").status_code == 200
    _change_password(app, user, auth)
    assert client.get("/programmes/FORCED").status_code == 200
    assert app.test_client().get("/api/v1/programmes/FORCED", headers=bearer).status_code == 200


def test_users_reset_password_command(app, runner, client):
    user = gen_user("cli@example.org")
    sign_in(client, user.email)
    weak = runner.invoke(args=["users", "reset-password", "--email", user.email,
                               "--password", "short"])
    assert weak.exit_code != 0 and "12 characters" in weak.output
    result = runner.invoke(args=["users", "reset-password", "--email", user.email,
                                 "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert is_sign_in_redirect(client.get("/"))
    db.session.expire_all()
    assert user.must_change_password and user.check_password(NEW_PASSWORD)
    unknown = runner.invoke(args=["users", "reset-password", "--email", "no@example.org",
                                  "--password", NEW_PASSWORD])
    assert unknown.exit_code != 0 and "no user" in unknown.output


def test_deactivated_user_is_signed_out_on_the_next_request(app, client):
    user = gen_user("gone@example.org")
    sign_in(client, user.email)
    # Deactivated behind the portal's back (no token rotation): still signed out.
    db.session.execute(update(User).where(User.id == user.id).values(active=False))
    db.session.commit()
    assert is_sign_in_redirect(client.get("/"))


def test_a_session_naming_a_numeric_user_id_signs_nobody_in(app):
    """Sessions from before per-user tokens held the numeric id; forged ones must fail."""
    user = gen_user("old@example.org")
    serializer = app.session_interface.get_signing_serializer(app)
    forged = serializer.dumps({"_user_id": str(user.id), "_fresh": True})
    assert is_sign_in_redirect(replay(app, {"session": forged}))
    empty = serializer.dumps({"_user_id": "", "_fresh": True})
    assert is_sign_in_redirect(replay(app, {"session": empty}))


# --- sign-in answers ---------------------------------------------------------------


def _normalised(response, email: str) -> str:
    body = response.get_data(as_text=True).replace(email, "EMAIL")
    body = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": "TOKEN"', body)
    return re.sub(r'value="[^"]{20,}"', 'value="TOKEN"', body)


def test_sign_in_answers_alike_for_unknown_wrong_and_locked(app, monkeypatch):
    import portal.models.users as users_module
    import portal.services.signin as signin_module

    gen_user("known@example.org")
    locked = gen_user("locked@example.org")
    locked.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    hashes = []
    for module in (users_module, signin_module):
        original = module.check_password_hash

        def counting(stored, password, _original=original):
            hashes.append(stored)
            return _original(stored, password)

        monkeypatch.setattr(module, "check_password_hash", counting)

    answers = {}
    for email in ("nobody@example.org", "known@example.org", "locked@example.org"):
        hashes.clear()
        response = sign_in(app.test_client(), email, "wrong-password-1", remember=False)
        answers[email] = (response.status_code, _normalised(response, email), len(hashes))
    assert len(set(answers.values())) == 1, answers
    status, body, hash_count = answers["known@example.org"]
    assert status == 401 and "Wrong e-mail or password." in body and "locked" not in body
    assert hash_count == 1  # the unknown account costs one (dummy) hash like the others
    # Only the right password learns that the account is locked.
    right = sign_in(app.test_client(), "locked@example.org", PASSWORD, remember=False)
    assert right.status_code == 401 and "locked" in right.get_data(as_text=True)


def test_failed_sign_ins_and_lock_outs_are_audited(app):
    user = gen_user("audited@example.org")
    sign_in(app.test_client(), "nobody@example.org", "wrong-password-1")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        sign_in(app.test_client(), user.email, "wrong-password-1")
    sign_in(app.test_client(), user.email, "wrong-password-1")  # now locked
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in_failed")
                                .order_by(AuditEvent.id)).all()
    reasons = [event.metadata_json["reason"] for event in events]
    assert reasons[0] == "unknown_account" and events[0].metadata_json["email"] == (
        "nobody@example.org")
    assert reasons[1:] == ["wrong_password"] * app.config["LOGIN_MAX_FAILURES"] + ["locked"]
    assert "user_locked_out" in audit_actions(user.id)


# --- API tokens and the API's 401 -----------------------------------------------------


def test_an_api_token_does_not_open_pages(app):
    user = gen_user("tok@example.org", is_admin=True)
    _, secret = create_token(user, "ci")
    bearer = {"Authorization": f"Bearer {secret}"}
    api = app.test_client()
    assert api.get("/api/v1/programmes", headers=bearer).status_code == 200
    for path in ("/", "/admin/users", "/account/tokens", "/audit"):
        assert is_sign_in_redirect(api.get(path, headers=bearer)), path


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/programmes"),
    ("GET", "/api/v1/programmes/ANY"),
    ("POST", "/api/v1/programmes/ANY/runs"),
    ("POST", "/api/v1/programmes/ANY/files"),
])
@pytest.mark.parametrize("header", [None, "Bearer po_not-a-real-token", "Basic abc"])
def test_unauthenticated_api_requests_get_a_json_401(app, client, method, path, header):
    headers = {"Authorization": header} if header else {}
    response = client.open(path, method=method, headers=headers, json={})
    assert response.status_code == 401
    assert response.is_json and "token" in response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_session_api_posts_still_need_the_csrf_header(app, client, auth):
    user = gen_user("sess@example.org")
    gen_steward(gen_programme("SESS"), user, "operator")
    auth.login(user.email)
    response = client.post("/api/v1/programmes/SESS/runs", json={})
    assert response.status_code == 400 and "security token" in response.json["message"]


@pytest.mark.parametrize("path,admin", [
    ("/account/password", False),
    ("/account/sign-out-everywhere", False),
    ("/admin/users/{victim}/force-password-reset", True),
])
def test_new_session_routes_refuse_posts_without_csrf(app, client, auth, path, admin):
    gen_user("root@example.org", is_admin=True)
    victim = gen_user("target@example.org")
    auth.login("root@example.org" if admin else victim.email)
    token_before = victim.session_token
    response = client.post(path.format(victim=victim.id), data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 400
    db.session.expire_all()
    assert victim.session_token == token_before and not victim.must_change_password
    assert victim.check_password(PASSWORD)


def test_session_routes_are_for_their_owners(app, client, auth):
    victim = gen_user("owner-of-account@example.org")
    for path in ("/account/password", "/account/sign-out-everywhere",
                 f"/admin/users/{victim.id}/force-password-reset"):
        response = client.post(path, data={"csrf_token": csrf_token(client, "/login")})
        assert is_sign_in_redirect(response), path
    assert is_sign_in_redirect(client.get("/account/password"))
    gen_user("plain@example.org")
    auth.login("plain@example.org")
    refused = auth.post(f"/admin/users/{victim.id}/force-password-reset")
    assert refused.status_code == 404
    db.session.expire_all()
    assert not victim.must_change_password


def test_nul_bytes_in_sign_in_and_password_fields_are_refused_cleanly(app, client, auth):
    """A 400 naming the field (the request guard) or the usual refusal; never a 500."""
    user = gen_user("nul@example.org")
    for email in ("nul\x00@example.org", user.email):
        browser = app.test_client()
        response = sign_in(browser, email, "wrong\x00password")
        assert response.status_code in (400, 401), email
        assert is_sign_in_redirect(browser.get("/"))
    sign_in(client, user.email)
    changed = auth.post("/account/password", {"current_password": "x\x00",
                                              "new_password": "y\x00", "confirm_password": ""})
    assert changed.status_code == 400
    db.session.expire_all()
    assert user.check_password(PASSWORD)
