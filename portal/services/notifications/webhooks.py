"""Programme webhooks: signed JSON POSTs to allow-listed hosts.

Each request carries ``X-ProgrammeOps-Signature: t=<unix seconds>,v1=<hex>``, the
HMAC-SHA256 of ``"<t>.<body>"`` under the webhook's secret; receivers recompute it and
reject stale timestamps (docs/notifications.md). The secret is shown once, when the
webhook is created. A URL's host must be in HTTP_ALLOWLIST when it is saved and again
when each request is sent; redirects are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from portal.credentials import allowlist_entries, matches
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme, User
from portal.models.notifications import EVENT_TYPES, NotificationDelivery, ProgrammeWebhook
from portal.services import DomainError, NotFound, audit

SIGNATURE_HEADER = "X-ProgrammeOps-Signature"
TIMEOUT_SECONDS = 10.0
MAX_WEBHOOKS = 10


class WebhookError(RuntimeError):
    """A delivery attempt failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def check_url(url: str, allowlist: list[str] | tuple[str, ...]) -> str:
    """Return ``url`` stripped, or raise DomainError naming the problem (field ``url``)."""
    url = (url or "").strip()
    if not url:
        raise DomainError("Enter the URL that should receive the events.", field="url")
    if len(url) > 500 or any(ord(ch) < 33 for ch in url):
        raise DomainError("The URL is too long or contains spaces or control characters.",
                          field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("The URL must start with https:// (or http://) and name a host.",
                          field="url")
    if parts.username or parts.password:
        raise DomainError("The URL must not carry a user name or password.", field="url")
    if not matches(url, allowlist_entries(allowlist)):
        raise DomainError(f"The host {parts.hostname.lower()!r} is not in the HTTP allow-list "
                          "(HTTP_ALLOWLIST); ask an administrator to add it.", field="url")
    return url


def check_events(events: list[str]) -> list[str]:
    """The chosen events, known ones only; DomainError (field ``events``) when none."""
    chosen = [event for event in EVENT_TYPES if event in set(events or ())]
    if len(chosen) != len(set(events or ())):
        raise DomainError("Unknown event type.", field="events")
    if not chosen:
        raise DomainError("Choose at least one event.", field="events")
    return chosen


def create_webhook(programme: MonitoringProgramme, user: User, url: str,
                   events: list[str]) -> tuple[ProgrammeWebhook, str]:
    """Add a webhook to the programme (access checked by the caller).

    Returns:
        The webhook and its secret — shown to the user this once.
    """
    url = check_url(url, current_app.config.get("HTTP_ALLOWLIST") or [])
    chosen = check_events(events)
    begin_write()
    count = len(db.session.scalars(select(ProgrammeWebhook.id).where(
        ProgrammeWebhook.programme_id == programme.id)).all())
    if count >= MAX_WEBHOOKS:
        raise DomainError(f"A programme has at most {MAX_WEBHOOKS} webhooks.", field="url")
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = ProgrammeWebhook(programme_id=programme.id, url=url, secret=secret,
                            events_json=chosen, active=True, created_by_id=user.id)
    db.session.add(hook)
    db.session.flush()
    audit.record("webhook_created", actor=user, object_type="webhook", object_id=hook.id,
                 programme_id=programme.id, metadata={"url": url, "events": chosen})
    db.session.commit()
    return hook, secret


def get_webhook(programme: MonitoringProgramme, webhook_id: int) -> ProgrammeWebhook:
    """The programme's webhook ``webhook_id``; NotFound when it belongs elsewhere."""
    hook = db.session.get(ProgrammeWebhook, webhook_id)
    if hook is None or hook.programme_id != programme.id:
        raise NotFound("No such webhook.")
    return hook


def delete_webhook(programme: MonitoringProgramme, user: User, webhook_id: int) -> None:
    """Remove a webhook and its delivery log (audited)."""
    hook = get_webhook(programme, webhook_id)
    begin_write()
    audit.record("webhook_deleted", actor=user, object_type="webhook", object_id=hook.id,
                 programme_id=programme.id, metadata={"url": hook.url})
    db.session.delete(hook)
    db.session.commit()


def webhooks_with_log(programme: MonitoringProgramme, limit: int = 20
                      ) -> list[tuple[ProgrammeWebhook, list[NotificationDelivery]]]:
    """The programme's webhooks, each with its latest deliveries (newest first)."""
    hooks = db.session.scalars(select(ProgrammeWebhook).where(
        ProgrammeWebhook.programme_id == programme.id).order_by(ProgrammeWebhook.id)).all()
    return [(hook, db.session.scalars(
        select(NotificationDelivery).where(NotificationDelivery.webhook_id == hook.id)
        .order_by(NotificationDelivery.id.desc()).limit(limit)).all()) for hook in hooks]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300,
           now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` within the tolerance."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(hook: ProgrammeWebhook, event_type: str, event_uuid: str,
         document: dict[str, Any], allowlist: list[str] | tuple[str, ...]) -> int:
    """POST the signed ``document`` to the webhook; return the 2xx status.

    Raises:
        WebhookError: the host left the allow-list, the network failed, or the
            receiver answered anything but 2xx (redirects included).
    """
    try:
        check_url(hook.url, allowlist)
    except DomainError as error:
        raise WebhookError(error.message) from error
    body = json.dumps(document, sort_keys=True).encode()
    request = urllib.request.Request(hook.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "programme-ops-webhooks/1",
        "X-ProgrammeOps-Event": event_type, "X-ProgrammeOps-Delivery": event_uuid,
        SIGNATURE_HEADER: sign(hook.secret, int(time.time()), body)})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(64 << 10)
            status = response.status
    except urllib.error.HTTPError as error:
        raise WebhookError(f"the receiver answered HTTP {error.code}", error.code) from error
    except (OSError, urllib.error.URLError) as error:
        raise WebhookError(f"could not reach the receiver: {error}") from error
    if not 200 <= status < 300:
        raise WebhookError(f"the receiver answered HTTP {status}", status)
    return status
