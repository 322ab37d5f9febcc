"""Hostile values for a user's time zone: refused on the field, nothing saved, nothing
read from the file system; and a zone stored by other means never breaks a page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.auth.tokens import create_token
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme, User
from portal.services import DomainError
from portal.services.preferences import set_time_zone
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

HOSTILE = [
    "Mars/Olympus_Mons",                      # not a zone
    "europe/amsterdam",                       # near miss: names are exact
    "../../../../etc/passwd",                 # path traversal
    "/etc/localtime", "localtime", "Factory",  # files in the zone database that are not places
    "Europe/../Europe/Madrid",
    "Europe/Madrid\x00",                      # NUL byte
    "\x00",
    "Europe/" + "A" * 100_000,                # very long
    "Europe/Madrid' OR '1'='1",
    "Europe/Madrid\n",
    " UTC",
    "Ευρώπη/Αθήνα😀",
]


@pytest.fixture
def person(app):
    """A steward whose zone is already Asia/Tokyo."""
    user = gen_user("person@x.org")
    gen_steward(gen_programme("TZ", timezone="Europe/Madrid"), user, "steward")
    user.time_zone = "Asia/Tokyo"
    db.session.commit()
    return user


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "user_time_zone_changed"))


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:30]))
def test_the_form_names_the_field_and_saves_nothing(person, client, auth, value):
    auth.login("person@x.org")
    response = auth.post("/account/preferences", {"time_zone": value})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    if "\x00" in value:  # refused before the view by portal/request_guards.py, by name
        assert "The field &#39;time_zone&#39; contains a NUL byte" in page
    else:
        assert 'id="time_zone-error"' in page and "is not a known time zone" in page
    assert len(page) < 200_000  # the long value is not echoed back in full
    db.session.expire_all()
    assert db.session.get(User, person.id).time_zone == "Asia/Tokyo"
    assert audit_count() == 0


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:30]))
def test_the_service_refuses_on_the_field(person, value):
    with pytest.raises(DomainError) as refused:
        set_time_zone(person, value)
    assert refused.value.field == "time_zone"
    assert "\x00" not in refused.value.message
    db.session.rollback()
    assert db.session.get(User, person.id).time_zone == "Asia/Tokyo"


def test_several_values_at_once_are_refused_or_take_one(person, client, auth):
    auth.login("person@x.org")
    response = client.post("/account/preferences", data={
        "time_zone": ["Europe/Madrid", "../../etc/passwd"],
        "csrf_token": auth.csrf_token("/account/preferences")})
    db.session.expire_all()
    assert db.session.get(User, person.id).time_zone in {"Asia/Tokyo", "Europe/Madrid"}
    assert response.status_code in {302, 400}


def test_a_stored_bad_zone_falls_back_instead_of_failing_pages(person, client, auth):
    """A value written around the service (an old row, a manual edit) never breaks a page:
    the default rule applies instead."""
    run = gen_run(db.session.scalar(select(MonitoringProgramme)))
    person.time_zone = "../../etc/passwd"
    db.session.commit()
    auth.login("person@x.org")
    assert client.get("/account/tokens").status_code == 200
    for url, zones in ((f"/runs/{run.uuid}", (" CET</time>", " CEST</time>")),
                       ("/runs", (" CET</time>", " CEST</time>")),
                       ("/account/preferences", (" UTC</time>",))):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert any(zone in page for zone in zones), url  # the default rule (Madrid / UTC)


@pytest.mark.parametrize("body", [
    *({"time_zone": value} for value in HOSTILE if "\x00" not in value),
    {"time_zone": 3}, {"time_zone": ["UTC"]}, {"time_zone": {"a": 1}}, {"time_zone": True},
    {}, ["UTC"], "UTC", {"time_zone": "UTC", "is_admin": True},
])
def test_the_api_names_the_field_and_saves_nothing(person, client, body):
    _, secret = create_token(person, "script")
    db.session.commit()
    response = client.patch("/api/v1/me", json=body,
                            headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400
    assert response.json["field"] in {"time_zone", "is_admin"} and response.json["message"]
    db.session.expire_all()
    user = db.session.get(User, person.id)
    assert user.time_zone == "Asia/Tokyo" and not user.is_admin
    assert audit_count() == 0


def test_the_api_refuses_nul_bytes_by_name(person, client):
    _, secret = create_token(person, "script")
    db.session.commit()
    response = client.patch("/api/v1/me", json={"time_zone": "UTC\x00"},
                            headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400 and response.json["field"] == "$.time_zone"  # guard
    db.session.expire_all()
    assert db.session.get(User, person.id).time_zone == "Asia/Tokyo"
