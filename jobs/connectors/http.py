"""Fetch a JSON or CSV answer over HTTP(S) from an allow-listed host.

Built for BIRDIE-style monitoring APIs (species, sites, abundance endpoints that
answer JSON records). A step names a *credential* the deployment declares
(``portal.credentials``); its token is read from the worker's environment at the
moment of use and sent as a bearer token **only to the credential's own hosts**.
Redirects are followed here, one hop at a time, never by urllib: each hop must stay on
the allow-list, and the Authorization header is dropped for good as soon as a hop
leaves the credential's hosts (or goes from https to http). Network errors and 5xx
answers are transient (the runner retries); 4xx answers and refused hosts are not.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from jobs.steps.base import StepError, TransientStepError
from portal.credentials import Credential, allowlist_entries, matches

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_BYTES = 100 << 20
CHUNK_BYTES = 64 << 10
MAX_REDIRECTS = 5
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Client errors that say "try again later" rather than "this request is wrong".
TRANSIENT_CLIENT_CODES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class HttpRequest:
    """What to fetch and within which limits.

    ``token`` is sent only while the URL is one of ``credential``'s hosts.
    """

    url: str
    allowlist: tuple[str, ...]
    credential: Credential | None = None
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    accept: str = "application/json"


def check_host(url: str, allowlist: tuple[str, ...]) -> None:
    """Refuse a URL that is not http(s) or whose host is not in the allow-list.

    An allow-list entry is a host name (any port) or ``host:port`` (the scheme's
    default port when the URL names none).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StepError(f"{url!r} is not an http(s) URL")
    entries = allowlist_entries(allowlist)
    if not matches(url, entries):
        listed = ", ".join(sorted(map(str, entries))) or "empty"
        raise StepError(f"host {parts.hostname.lower()!r} is not in the HTTP allow-list "
                        f"({listed})")


class _NoAutomaticRedirects(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back to :func:`fetch`, which decides where the next hop goes."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(request: HttpRequest, log: Callable[[str], None] | None = None) -> bytes:
    """GET ``request.url`` and return the body, streamed and capped at ``max_bytes``.

    Args:
        request: what to fetch; its token goes only to its credential's hosts.
        log: receives a line for each redirect followed (and each credential dropped).

    Raises:
        StepError: refused host (first URL or any redirect), the credential's hosts not
            including the URL, too many redirects, 4xx answer, body over ``max_bytes``.
        TransientStepError: connection failure, timeout, 5xx (or 408/425/429) answer.
    """
    credential, token = request.credential, request.token
    if token and (credential is None or not credential.allows(request.url)):
        hosts = credential.hosts_text() if credential else "no host"
        raise StepError(f"{request.url}: the credential may be sent only to {hosts}")
    opener = urllib.request.build_opener(_NoAutomaticRedirects())
    deadline = time.monotonic() + request.timeout
    url, send_token = request.url, bool(token)
    for _hop in range(MAX_REDIRECTS + 1):
        check_host(url, request.allowlist)
        headers = {"Accept": request.accept, "User-Agent": "programme-ops/1"}
        if send_token:
            headers["Authorization"] = f"Bearer {token}"
        location = _get(opener, url, headers, request, deadline)
        if isinstance(location, bytes):
            return location
        next_url = urljoin(url, location)
        downgrade = urlsplit(url).scheme == "https" and urlsplit(next_url).scheme != "https"
        if send_token and (downgrade or not credential.allows(next_url)):
            send_token = False
            if log:
                log(f"redirected to {next_url}: outside credential {credential.name!r}'s "
                    "hosts, so the credential is not sent there (nor on later hops)")
        elif log:
            log(f"redirected to {next_url}")
        url = next_url
    raise StepError(f"{request.url}: more than {MAX_REDIRECTS} redirects")


def _get(opener: urllib.request.OpenerDirector, url: str, headers: dict[str, str],
         request: HttpRequest, deadline: float) -> bytes | str:
    """One GET: the body (bytes), or the Location of a redirect (str)."""
    try:
        with opener.open(urllib.request.Request(url, headers=headers),
                         timeout=request.timeout) as answer:
            declared = answer.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > request.max_bytes:
                raise StepError(_too_big(request, int(declared)))
            chunks: list[bytes] = []
            size = 0
            while block := answer.read(CHUNK_BYTES):
                size += len(block)
                if size > request.max_bytes:
                    raise StepError(_too_big(request, size))
                if time.monotonic() > deadline:
                    raise TransientStepError(
                        f"{request.url}: no complete answer within {request.timeout:g} s"
                    )
                chunks.append(block)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if exc.headers else None
        exc.close()
        if exc.code in REDIRECT_CODES and location:
            return location
        message = f"{url} answered HTTP {exc.code} {exc.reason}"
        if exc.code >= 500 or exc.code in TRANSIENT_CLIENT_CODES:
            raise TransientStepError(message) from None
        raise StepError(message) from None
    except urllib.error.URLError as exc:
        raise TransientStepError(f"{url}: cannot connect: {exc.reason}") from None
    except TimeoutError:
        raise TransientStepError(f"{url}: timed out after {request.timeout:g} s") from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise TransientStepError(f"{url}: connection failed: {exc}") from None


def _too_big(request: HttpRequest, size: int) -> str:
    return (
        f"{request.url}: the answer exceeds max_bytes ({size:,} > {request.max_bytes:,} bytes); "
        "raise max_bytes or narrow the query"
    )
