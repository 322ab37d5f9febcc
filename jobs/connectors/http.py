"""Fetch a JSON or CSV answer over HTTP(S) from an allow-listed host.

Built for BIRDIE-style monitoring APIs (species, sites, abundance endpoints that
answer JSON records). The bearer token is read from an environment variable whose
*name* is configured, so the secret never sits in the pipeline JSON or the lineage.
Redirects are followed only to allow-listed hosts. Network errors and 5xx answers
are transient (the runner retries); 4xx answers and refused hosts are not.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jobs.steps.base import StepError, TransientStepError

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_BYTES = 100 << 20
CHUNK_BYTES = 64 << 10
# Client errors that say "try again later" rather than "this request is wrong".
TRANSIENT_CLIENT_CODES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class HttpRequest:
    """What to fetch and within which limits."""

    url: str
    allowlist: tuple[str, ...]
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    accept: str = "application/json"


def token_from_env(variable: str | None) -> str | None:
    """Return the bearer token held by environment variable ``variable`` (None: no token)."""
    if not variable:
        return None
    token = os.environ.get(variable, "").strip()
    if not token:
        raise StepError(
            f"token_env names the environment variable {variable}, which is not set on the "
            "worker: set it there (the token is never stored in the pipeline)"
        )
    return token


def check_host(url: str, allowlist: tuple[str, ...]) -> None:
    """Refuse a URL that is not http(s) or whose host is not in the allow-list.

    An allow-list entry is a host name (any port) or ``host:port``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StepError(f"{url!r} is not an http(s) URL")
    host = parts.hostname.lower()
    allowed = {entry.strip().lower() for entry in allowlist}
    if host not in allowed and f"{host}:{parts.port}" not in allowed:
        listed = ", ".join(sorted(allowed)) or "empty"
        raise StepError(f"host {host!r} is not in the HTTP allow-list ({listed})")


class _AllowListRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, allowlist: tuple[str, ...]) -> None:
        self.allowlist = allowlist

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        """Follow a redirect only to an allow-listed host (a StepError otherwise)."""
        check_host(newurl, self.allowlist)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(request: HttpRequest) -> bytes:
    """GET ``request.url`` and return the body, streamed and capped at ``max_bytes``.

    Raises:
        StepError: refused host, 4xx answer, body larger than ``max_bytes``.
        TransientStepError: connection failure, timeout, 5xx (or 408/425/429) answer.
    """
    check_host(request.url, request.allowlist)
    headers = {"Accept": request.accept, "User-Agent": "programme-ops/1"}
    if request.token:
        headers["Authorization"] = f"Bearer {request.token}"
    opener = urllib.request.build_opener(_AllowListRedirects(request.allowlist))
    deadline = time.monotonic() + request.timeout
    try:
        with opener.open(
            urllib.request.Request(request.url, headers=headers), timeout=request.timeout
        ) as answer:
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
    except urllib.error.HTTPError as exc:
        message = f"{request.url} answered HTTP {exc.code} {exc.reason}"
        if exc.code >= 500 or exc.code in TRANSIENT_CLIENT_CODES:
            raise TransientStepError(message) from None
        raise StepError(message) from None
    except urllib.error.URLError as exc:
        raise TransientStepError(f"{request.url}: cannot connect: {exc.reason}") from None
    except TimeoutError:
        raise TransientStepError(f"{request.url}: timed out after {request.timeout:g} s") from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise TransientStepError(f"{request.url}: connection failed: {exc}") from None
    return b"".join(chunks)


def _too_big(request: HttpRequest, size: int) -> str:
    return (
        f"{request.url}: the answer exceeds max_bytes ({size:,} > {request.max_bytes:,} bytes); "
        "raise max_bytes or narrow the query"
    )
