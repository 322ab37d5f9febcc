"""E-mail over SMTP: one event or a digest, as a plain-text and an HTML part.

Settings come from the app config (``SMTP_*``, read from the environment in
``config.py``). Header values are built with :mod:`email.message` after every CR and
LF is folded into a space, so a programme title or alert message can never add a
header or a recipient. Only workers call :func:`send`.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from typing import Any

from portal.models.notifications import EVENT_TYPES

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class MailError(RuntimeError):
    """The message could not be handed to the SMTP server (it will be retried)."""


def one_line(value: Any, limit: int = 200) -> str:
    """``value`` as a single header-safe line: CR, LF and other controls become spaces."""
    text = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in str(value or ""))
    return " ".join(text.split())[:limit]


def absolute(config: Mapping[str, Any], path: str | None) -> str:
    """The portal URL of ``path`` (PORTAL_BASE_URL + path)."""
    base = str(config.get("PORTAL_BASE_URL") or "http://localhost:8000").rstrip("/")
    return base + (path or "/")


def summary_line(event_type: str, payload: dict[str, Any]) -> str:
    """One line saying what happened, for subjects and digest entries."""
    code = payload.get("programme", {}).get("code", "")
    title = EVENT_TYPES.get(event_type, event_type)
    detail = ""
    if "run" in payload and event_type.startswith("run."):
        detail = payload["run"].get("message") or ""
    elif "alert" in payload:
        detail = f"{payload['alert'].get('rule_id')}: {payload['alert'].get('message')}"
    elif "release" in payload:
        detail = f"version {payload['release'].get('version')}"
    elif "delivery" in payload:
        detail = payload["delivery"].get("summary") or ""
    return one_line(f"{code}: {title}" + (f" — {detail}" if detail else ""))


def link_path(payload: dict[str, Any]) -> str:
    """The page an event links to: the run, the alert, else the programme."""
    for key in ("run", "alert", "release", "programme"):
        if isinstance(payload.get(key), dict) and payload[key].get("path"):
            return payload[key]["path"]
    return "/"


def build(config: Mapping[str, Any], to: str,
          items: list[tuple[str, dict[str, Any]]], digest: bool = False) -> EmailMessage:
    """Build the message for ``items`` ((event_type, payload) pairs) to ``to``."""
    lines = [(summary_line(kind, payload), absolute(config, link_path(payload)))
             for kind, payload in items]
    if digest:
        subject = f"[Programme Ops] Daily digest: {len(items)} notification(s)"
    else:
        subject = f"[Programme Ops] {lines[0][0]}"
    message = EmailMessage()
    message["Subject"] = one_line(subject, 250)
    message["From"] = one_line(config.get("SMTP_FROM") or "programme-ops@localhost")
    message["To"] = one_line(to, 254)
    message["Message-ID"] = make_msgid(domain="programme-ops")
    intro = ("Your daily digest from Programme Ops." if digest
             else "Programme Ops has a notification for you.")
    text = [intro, ""]
    for line, url in lines:
        text += [f"- {line}", f"  {url}"]
    text += ["", "Change what you receive: " + absolute(config, "/account/notifications")]
    message.set_content("\n".join(text))
    html_items = "".join(f'<li>{escape(line)} — <a href="{escape(url)}">open</a></li>'
                         for line, url in lines)
    settings_url = escape(absolute(config, "/account/notifications"))
    message.add_alternative(
        f"<html><body><p>{escape(intro)}</p><ul>{html_items}</ul>"
        f'<p><a href="{settings_url}">Change what you receive</a></p></body></html>',
        subtype="html")
    return message


def send(config: Mapping[str, Any], message: EmailMessage) -> None:
    """Hand ``message`` to the configured SMTP server.

    Raises:
        MailError: SMTP is not configured, unreachable, or refused the message.
    """
    host = config.get("SMTP_HOST")
    if not host:
        raise MailError("SMTP_HOST is not set: e-mail cannot be sent")
    security = (config.get("SMTP_SECURITY") or "starttls").lower()
    if security not in DEFAULT_PORTS:
        raise MailError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
    port = int(config.get("SMTP_PORT") or DEFAULT_PORTS[security])
    timeout = float(config.get("SMTP_TIMEOUT_SECONDS") or 20)
    context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
    client: smtplib.SMTP | None = None
    try:
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            client.starttls(context=context)
        if config.get("SMTP_USERNAME"):
            client.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        client.send_message(message)
        client.quit()
    except (OSError, smtplib.SMTPException) as error:
        if client is not None:
            client.close()  # no QUIT: after a failed handshake it would wait for the timeout
        raise MailError(f"SMTP {host}:{port}: {error}") from error
