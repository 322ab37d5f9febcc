"""Hostile input gets a clear 400/404/413 with a message, never a 500 (issue 9, part 4).

The route fuzzer (test_fuzz_routes.py) checks "below 500" everywhere; these tests pin
down what a user or an API client actually gets back for each kind of hostile value.
"""

from __future__ import annotations

import html
import io

import pytest

from portal.extensions import db
from portal.models import MonitoringProgramme
from tests.factories import gen_programme, gen_run, gen_steward, gen_user
from tests.security.fuzzing import forms_on

NUL = "\x00"


@pytest.fixture
def steward_world(app, auth):
    """A steward of SITES, signed in."""
    programme = gen_programme("SITES", refresh_cadence="weekly", timezone="Europe/Madrid")
    steward = gen_user("steward@x.org")
    gen_steward(programme, steward, "steward")
    gen_run(programme)
    gen_user("admin@x.org", is_admin=True)
    assert auth.login("steward@x.org").status_code == 302
    return programme


def text(response) -> str:
    """The page as a reader sees it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


def _edit_form(client) -> dict:
    """The programme's edit form as rendered (a valid submission)."""
    page = client.get("/programmes/SITES/edit").get_data(as_text=True)
    form = next(f for f in forms_on("/programmes/SITES/edit", page)
                if f.action == "/programmes/SITES/edit")
    return form.main_baseline()


# --- NUL bytes -----------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/runs?q=%00", "/alerts?status=a%00b", "/audit?actor=%00",
                                 "/?q=bird%00s", "/runs?%00=1"])
def test_nul_in_query_string_is_a_400_naming_the_parameter(steward_world, client, url):
    response = client.get(url)
    assert response.status_code == 400
    page = text(response)
    assert "NUL byte" in page and "Bad request" in page


def test_nul_in_api_query_string_is_a_json_400(steward_world, client):
    response = client.get("/api/v1/programmes?q=%00")
    assert response.status_code == 400 and response.is_json
    assert response.json["field"] == "q" and "NUL byte" in response.json["message"]


@pytest.mark.parametrize("url", ["/programmes/SITES%00", "/programmes/%00/edit",
                                 "/runs/%00", "/api/v1/programmes/SI%00TES",
                                 "/programmes/SITES/releases/1.0/a%00.csv"])
def test_nul_in_a_path_segment_is_not_found(steward_world, client, url):
    response = client.get(url)
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert response.is_json and response.json["message"] == "Not found."


def test_nul_in_a_form_field_is_a_400_and_nothing_is_saved(steward_world, client):
    form = _edit_form(client)
    response = client.post("/programmes/SITES/edit", data={**form, "title": f"Birds{NUL}"})
    assert response.status_code == 400
    assert "'title' contains a NUL byte" in text(response)
    db.session.expire_all()
    assert db.session.get(MonitoringProgramme, steward_world.id).title == steward_world.title


def test_nul_in_an_uploaded_file_name_is_a_400(steward_world, client, auth):
    response = auth.post("/programmes/SITES/inbox",
                         {"file": (io.BytesIO(b"a,b\n1,2\n"), f"sites{NUL}.csv")},
                         content_type="multipart/form-data")
    assert response.status_code == 400
    assert "'file' contains a NUL byte" in text(response)


def test_nul_in_a_json_string_is_a_json_400_with_its_path(steward_world, client, auth):
    response = auth.post_json("/api/v1/programmes/SITES/runs", {"run_type": f"full{NUL}"})
    assert response.status_code == 400 and response.is_json
    assert response.json["field"] == "$.run_type"
    assert "NUL byte" in response.json["message"]


# --- page numbers ----------------------------------------------------------------------

@pytest.mark.parametrize("page", ["0", "-1", str(10**30), "abc", "1.5", ""])
@pytest.mark.parametrize("path", ["/", "/runs", "/alerts", "/audit"])
def test_odd_page_numbers_show_a_page(steward_world, client, path, page):
    response = client.get(f"{path}?page={page}")
    assert response.status_code == 200


@pytest.mark.parametrize("page,shown", [("0", 1), ("-1", 1), ("abc", 1),
                                        (str(10**30), 100_000)])
def test_api_page_numbers_are_clamped(steward_world, client, page, shown):
    response = client.get(f"/api/v1/programmes?page={page}")
    assert response.status_code == 200
    assert response.json["page"] == shown
    assert response.json["total"] == 1


def test_an_enormous_id_in_the_url_is_not_found(app, client, auth):
    gen_user("admin@x.org", is_admin=True)
    auth.login("admin@x.org")
    for value in (str(2**31), str(2**63), str(10**30)):
        assert client.get(f"/admin/users/{value}").status_code == 404
        assert auth.post(f"/account/tokens/{value}/revoke").status_code == 404


# --- next= after sign-in ----------------------------------------------------------------

@pytest.mark.parametrize("target", ["/runs\r\nSet-Cookie: evil=1", "/runs\nX: y",
                                    "//evil.example", "/\\evil.example", "https://evil.example",
                                    "/runs\tx", "runs"])
def test_hostile_next_is_ignored(app, client, auth, target):
    gen_user("someone@x.org")
    token = auth.csrf_token("/login")
    response = client.post("/login", query_string={"next": target},
                           data={"email": "someone@x.org", "password": "correct-horse-battery",
                                 "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "evil" not in str(response.headers)


def test_a_plain_next_is_kept(app, client, auth):
    gen_user("someone@x.org")
    token = auth.csrf_token("/login")
    response = client.post("/login", query_string={"next": "/runs?status=failed"},
                           data={"email": "someone@x.org", "password": "correct-horse-battery",
                                 "csrf_token": token})
    assert response.headers["Location"] == "/runs?status=failed"


# --- cadences and time zones ----------------------------------------------------------

@pytest.mark.parametrize("cadence,message", [
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4,6,9,11 *", "never fires"),
    ("* * * * * *", "5-field cron expression"),
    ("0 0 1 1 * 2030", "5-field cron expression"),
    ("x" * 100_000, "neither a cadence"),
])
def test_cadences_that_cannot_be_scheduled_are_refused_at_save(steward_world, client, cadence,
                                                               message):
    form = {**_edit_form(client), "refresh_cadence": cadence, "scheduler_enabled": "y"}
    response = client.post("/programmes/SITES/edit", data=form)
    assert response.status_code == 400
    assert message in text(response)
    db.session.expire_all()
    assert db.session.get(MonitoringProgramme, steward_world.id).refresh_cadence == "weekly"


def test_a_five_field_cron_is_saved(steward_world, client):
    form = {**_edit_form(client), "refresh_cadence": "0 6 * * 1", "scheduler_enabled": "y"}
    assert client.post("/programmes/SITES/edit", data=form).status_code == 302
    db.session.expire_all()
    programme = db.session.get(MonitoringProgramme, steward_world.id)
    assert programme.refresh_cadence == "0 6 * * 1" and programme.next_run_at is not None


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/" + "x" * 100_000,
                                  "../../../etc/passwd"])
def test_absurd_time_zones_are_a_field_error(steward_world, client, zone):
    form = {**_edit_form(client), "timezone": zone}
    response = client.post("/programmes/SITES/edit", data=form)
    assert response.status_code == 400
    assert "is not a known time zone" in text(response)


@pytest.mark.parametrize("value", ["0000-00-00", "2024-02-30", "-0001-01-01"])
def test_impossible_dates_in_filters_are_reported(steward_world, client, value):
    response = client.get(f"/audit?date_from={value}")
    assert response.status_code == 200
    assert "is not a date" in text(response)


# --- JSON bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("body,message", [
    (b"{", "not valid JSON"),
    (b"[1, 2", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nests more than 64 levels"),
])
def test_malformed_json_is_a_json_400(steward_world, client, auth, body, message):
    response = client.post("/api/v1/programmes/SITES/runs", data=body,
                           content_type="application/json",
                           headers={"X-CSRFToken": auth.csrf_token("/")})
    assert response.status_code == 400 and response.is_json
    assert message in response.json["message"] and response.json["field"] == "body"


def test_oversized_json_is_a_json_413(steward_world, client, auth, app):
    body = b'{"run_type": "' + b"x" * app.config["MAX_JSON_BYTES"] + b'"}'
    response = client.post("/api/v1/programmes/SITES/runs", data=body,
                           content_type="application/json",
                           headers={"X-CSRFToken": auth.csrf_token("/")})
    assert response.status_code == 413 and response.is_json
    assert "larger than the 1024 KB limit" in response.json["message"]


@pytest.mark.parametrize("body,content_type", [(b'{"dry_run": true}', "text/plain"),
                                               (b"dry_run=1", "application/x-www-form-urlencoded"),
                                               (b"[]", "application/json"),
                                               (b'"full"', "application/json")])
def test_wrong_body_shapes_are_a_json_400(steward_world, client, auth, body, content_type):
    response = client.post("/api/v1/programmes/SITES/runs", data=body, content_type=content_type,
                           headers={"X-CSRFToken": auth.csrf_token("/")})
    assert response.status_code == 400 and response.is_json
    assert "must be a JSON object" in response.json["message"]


def test_deeply_nested_json_in_an_editor_is_a_field_error(steward_world, client):
    form = {**_edit_form(client), "pipeline_definition": '{"steps": [' * 2000}
    response = client.post("/programmes/SITES/edit", data=form)
    assert response.status_code == 400
    assert "nested more than 64 levels deep" in text(response)


# --- error pages ----------------------------------------------------------------------

def test_error_pages_say_what_is_wrong(steward_world, client, auth):
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405
    assert "this address accepts POST" in text(wrong_method)
    api_method = client.get("/api/v1/programmes/SITES/runs")
    assert api_method.status_code == 405 and api_method.is_json
    assert api_method.json["error"] == "method_not_allowed"
    assert "accepts POST" in api_method.json["message"]
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "Not found" in text(missing)
    huge_field = auth.post("/programmes/SITES/edit", {"title": "x" * 600_000},
                           content_type="multipart/form-data")
    assert huge_field.status_code == 413
    assert "request is too large" in text(huge_field)
