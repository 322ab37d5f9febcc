"""Masking passwords in URLs wherever the portal shows or logs one (invariant 10).

``mask_url`` hides the password of one URL (``redis://:***@host:6379/0``,
``postgresql+psycopg://portal:***@db/portal``) and any ``password=`` query value;
``mask_secrets`` does the same for every URL inside a free text (an error message,
a log line). ``install_log_masking`` applies ``mask_secrets`` to every log record of
the process, whichever logger or handler writes it (RQ's, gunicorn's, ours).

Imports nothing beyond the standard library, so steps, scripts and the CLI can use it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
# scheme://user:password@ — the password runs to the last '@' before the host; a raw
# '/', '@' or whitespace cannot be part of it in a valid URL.
_USERINFO_RE = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s/@]*)(?P<tail>@)")
# ?password=... or &password=... (libpq and some Redis clients accept it there).
_QUERY_RE = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)(?P<password>[^&#\s]*)",
                       re.IGNORECASE)


def mask_url(url: Any) -> str:
    """Return ``url`` as text with its password (user-info or query) replaced by ``***``.

    Args:
        url: a URL string or an object whose ``str()`` is one (SQLAlchemy's URL
            masks itself; ``None`` gives ``""``).

    Returns:
        The URL with every password masked; a URL without one comes back unchanged.
    """
    if url is None:
        return ""
    return mask_secrets(str(url))


def mask_secrets(text: str) -> str:
    """Mask the password of every URL inside ``text`` (error messages, log lines)."""
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO_RE.sub(
        lambda m: m["head"] + (MASK if m["password"] else "") + m["tail"], text)
    return _QUERY_RE.sub(lambda m: m["head"] + MASK, text)


def describe_connections(config: Any) -> str:
    """``redis <url> · database <url>`` with passwords masked (start-up lines, health page)."""
    return (f"redis {mask_url(config.get('REDIS_URL'))} · "
            f"database {mask_url(config.get('SQLALCHEMY_DATABASE_URI'))}")


_installed = False


def install_log_masking() -> None:
    """Mask URL passwords in every log record created from now on in this process.

    The record factory is wrapped (once), so records from any logger are masked
    before any handler or formatter sees them; the message is formatted eagerly.
    """
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 — a bad format string is logging's to report
            return record
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(masked_record)
    _installed = True
