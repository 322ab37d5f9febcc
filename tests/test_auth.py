"""Sign-in: hashed passwords, lock-out, CSRF, secure cookies, sign-out by POST only."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User
from tests.factories import PASSWORD, gen_user


def test_sign_in_and_out(app, client, auth):
    gen_user("ann@example.org")
    response = auth.login("ann@example.org")
    assert response.status_code == 302
    assert "Ann" not in response.headers["Location"]
    assert client.get("/").status_code == 200
    assert auth.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_passwords_are_stored_hashed(app):
    user = gen_user("hash@example.org")
    assert PASSWORD not in user.password_hash
    assert user.check_password(PASSWORD) and not user.check_password("wrong-password")


def test_wrong_password_gets_a_clear_message(app, client, auth):
    gen_user("bob@example.org")
    response = auth.login("bob@example.org", "not-the-password")
    assert response.status_code == 401
    assert "Wrong e-mail or password" in response.get_data(as_text=True)
    unknown = auth.login("nobody@example.org", "whatever-password")
    assert "Wrong e-mail or password" in unknown.get_data(as_text=True)


def test_lockout_after_repeated_failures(app, client, auth):
    gen_user("carl@example.org")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.login("carl@example.org", "bad-password-1")
    response = auth.login("carl@example.org")  # the right password, but locked now
    assert response.status_code == 401
    assert "locked" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user_locked_out"))


def test_inactive_user_cannot_sign_in(app, client, auth):
    gen_user("dora@example.org", active=False)
    response = auth.login("dora@example.org")
    assert response.status_code == 401
    assert "deactivated" in response.get_data(as_text=True)


def test_login_post_without_csrf_is_refused(app, client):
    gen_user("eve@example.org")
    response = client.post("/login", data={"email": "eve@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_logout_requires_post_with_csrf(app, client, auth):
    gen_user("fay@example.org")
    auth.login("fay@example.org")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_session_cookie_is_httponly_and_samesite(app, client, auth):
    gen_user("gil@example.org")
    response = auth.login("gil@example.org")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_open_redirect_is_refused(app, client, auth):
    gen_user("hal@example.org")
    token = auth.csrf_token("/login")
    response = client.post("/login?next=https://evil.example/", data={
        "email": "hal@example.org", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"].endswith("/")
    assert "evil" not in response.headers["Location"]


def test_security_headers_on_every_page(app, client):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_users_create_command(app, runner):
    result = runner.invoke(args=["users", "create", "--email", "New@Example.org", "--name",
                                 "New Person", "--password", "long-enough-pw", "--admin"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user is not None and user.is_admin
    again = runner.invoke(args=["users", "create", "--email", "new@example.org", "--name", "X",
                                "--password", "long-enough-pw"])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["users", "create", "--email", "s@example.org", "--name", "S",
                                "--password", "short"])
    assert short.exit_code != 0 and "password" in short.output


def test_admin_creates_user_and_membership(app, client, auth):
    from tests.factories import gen_institution

    gen_user("root@example.org", is_admin=True)
    inst = gen_institution("ZOO")
    auth.login("root@example.org")
    bad = auth.post("/admin/users", {"email": "not-an-email", "name": "X",
                                     "password": "long-enough-pw"})
    assert bad.status_code == 400 and "valid e-mail" in bad.get_data(as_text=True)
    ok = auth.post("/admin/users", {"email": "ivy@example.org", "name": "Ivy",
                                    "password": "long-enough-pw"})
    assert ok.status_code == 302
    ivy = db.session.scalar(select(User).where(User.email == "ivy@example.org"))
    added = auth.post(f"/admin/users/{ivy.id}", {"form": "membership", "m-institution": inst.id,
                                                  "m-action": "add"})
    assert added.status_code == 302
    db.session.expire_all()
    assert [i.code for i in ivy.institutions] == ["ZOO"]
