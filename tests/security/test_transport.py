"""Transport: HSTS in production only; forwarded headers trusted only when configured."""

from __future__ import annotations

import pytest
from flask import request

from portal import create_app
from tests.conftest import DATABASE_URL, REDIS_URL, settings_for

HSTS = "Strict-Transport-Security"


@pytest.fixture
def production_app(_schema, tmp_path, monkeypatch):
    """The portal with the production configuration class."""
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("PUBLISH_ROOT", str(tmp_path / "releases"))
    return create_app("production", settings_for(tmp_path))


def test_production_sends_hsts(production_app):
    response = production_app.test_client().get("/login")
    assert response.status_code == 200
    assert response.headers[HSTS] == "max-age=31536000; includeSubDomains"
    assert production_app.config["SESSION_COOKIE_SECURE"] is True


def test_other_configurations_send_no_hsts(client):
    response = client.get("/login")
    assert response.status_code == 200 and HSTS not in response.headers


def _probe(app):
    app.add_url_rule("/_probe", "probe", lambda: f"{request.scheme} {request.remote_addr}")
    return app.test_client().get("/_probe", headers={"X-Forwarded-Proto": "https",
                                                     "X-Forwarded-For": "203.0.113.9"})


def test_forwarded_headers_are_ignored_by_default(app):
    assert _probe(app).get_data(as_text=True) == "http 127.0.0.1"


def test_forwarded_headers_are_trusted_behind_a_proxy(_schema, app_config):
    app = create_app("testing", {**app_config, "TRUST_PROXY_HEADERS": True})
    assert _probe(app).get_data(as_text=True) == "https 203.0.113.9"
