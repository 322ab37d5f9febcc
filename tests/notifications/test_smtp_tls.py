"""STARTTLS and SMTPS against a real aiosmtpd server with a certificate the test makes
(and the portal trusts through SMTP_CA_FILE); the password travels only inside TLS."""

from __future__ import annotations

import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from portal.services.notifications import email
from tests.notifications.conftest import Inbox, free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"ops", b"s3cret")
    return AuthResult(success=ok)


def _settings(port, cert, security, **extra):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_SECURITY": security,
            "SMTP_CA_FILE": str(cert), "SMTP_FROM": "ops@portal.test",
            "PORTAL_BASE_URL": "https://portal.test", **extra}


def _message(config):
    return email.build(config, "owner@x.org", [("run.failed", {
        "programme": {"code": "BIRDS", "path": "/programmes/BIRDS"},
        "run": {"uuid": "r1", "message": "boom", "path": "/runs/r1"}})])


def test_starttls_with_a_login(certificate):
    cert, context = certificate
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=_authenticator, auth_require_tls=True)
    controller.start()
    try:
        config = _settings(controller.port, cert, "starttls", SMTP_USERNAME="ops",
                           SMTP_PASSWORD="s3cret")
        email.send(config, _message(config))
        assert inbox.recipients() == ["owner@x.org"]
        with pytest.raises(email.MailError):  # a server we cannot verify is refused
            email.send({**config, "SMTP_CA_FILE": None}, _message(config))
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_smtps(certificate):
    cert, context = certificate
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            ssl_context=context)
    controller.start()
    try:
        config = _settings(controller.port, cert, "ssl")
        email.send(config, _message(config))
    finally:
        controller.stop()
    assert inbox.recipients() == ["owner@x.org"]
