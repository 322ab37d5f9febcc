"""Named credentials: the only way a pipeline sends a secret (invariant 10).

A pipeline never names an environment variable. The deployment declares each
credential — a name, the environment variable holding its token, the hosts it may be
sent to — in ``PORTAL_CREDENTIALS`` (JSON) and/or the JSON file ``PORTAL_CREDENTIALS_FILE``::

    {"birdie": {"env": "BIRDIE_TOKEN", "hosts": ["api.birdie.org"]}}

``init_app`` parses and checks the declaration when the app starts (web, worker,
scheduler and CLI alike) and refuses to start, naming the credential, when:

- a credential's variable is one of the portal's own settings (``SECRET_KEY``,
  ``DATABASE_URL``, ``REDIS_URL``, any variable ``config.py`` reads, anything starting
  with ``PORTAL_``, ``FLASK_``, ``SQLALCHEMY_``, ``MAIL_``, ``SMTP_``, ``PG`` …), or holds
  the same value as one of them;
- a host is not an exact host name (optionally ``host:port``), or lies outside
  ``HTTP_ALLOWLIST``.

A host entry without a port matches the host on any port; ``host:port`` matches that
port only (the scheme's default port when the URL has none) — as in the allow-list.
Imports only the standard library (and ``config`` lazily), so steps can use it.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

EXTENSION_KEY = "portal_credentials"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_RE = re.compile(
    rf"^(?P<host>{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::(?P<port>\d{{1,5}}))?$")
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Portal settings a credential may never name, besides every variable config.py reads.
PORTAL_VARIABLES = frozenset({
    "SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL", "METRICS_TOKEN",
    "POSTGRES_PASSWORD", "POSTGRES_USER", "INSTANCE_PATH", "CODE_VERSION",
})
#: Prefixes of settings of the portal, its frameworks and its stores (PG*: libpq).
PORTAL_PREFIXES = ("PORTAL_", "FLASK_", "SQLALCHEMY_", "WERKZEUG_", "MAIL_", "SMTP_",
                   "EMAIL_", "REDIS_", "DATABASE_", "POSTGRES_", "PG", "RQ_", "GUNICORN_")
#: App settings whose values a credential's token must never equal.
SECRET_SETTINGS = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "METRICS_TOKEN")


class CredentialConfigError(RuntimeError):
    """The credential declaration is wrong; the app refuses to start."""


class CredentialError(Exception):
    """A credential cannot be used (no value on this process)."""


@dataclass(frozen=True)
class HostEntry:
    """One declared host: a lower-case name or address, and a port or None (any port)."""

    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@dataclass(frozen=True)
class Credential:
    """A declared credential: its name, the variable holding its token, its hosts."""

    name: str
    env: str
    hosts: tuple[HostEntry, ...]

    def allows(self, url: str) -> bool:
        """Whether this credential may be sent to ``url`` (its host and port)."""
        return matches(url, self.hosts)

    def hosts_text(self) -> str:
        """The declared hosts, comma-separated (for messages)."""
        return ", ".join(map(str, self.hosts))

    def token(self, environ: Mapping[str, str] | None = None) -> str:
        """The token, read from this process's environment at the moment of use.

        Raises:
            CredentialError: the variable is unset or empty; the message names the
                credential and its variable, never a value.
        """
        value = (os.environ if environ is None else environ).get(self.env, "").strip()
        if not value:
            raise CredentialError(
                f"credential {self.name!r} has no value on this worker: its environment "
                f"variable {self.env} is not set (set it where the workers run)")
        return value


def parse_host(entry: str) -> HostEntry:
    """Parse ``host`` or ``host:port`` (exact names only: no scheme, path or wildcard).

    Raises:
        ValueError: the entry is not an exact host name.
    """
    text = str(entry).strip().lower()
    match = HOST_RE.match(text)
    port = int(match["port"]) if match and match["port"] else None
    if not match or (port is not None and not 0 < port < 65536):
        raise ValueError(f"{entry!r} is not an exact host name (optionally host:port)")
    return HostEntry(match["host"].strip("[]"), port)


def allowlist_entries(values: Iterable[str]) -> list[HostEntry]:
    """The parseable entries of an allow-list (``host`` or ``host:port``)."""
    entries = []
    for value in values:
        try:
            entries.append(parse_host(value))
        except ValueError:
            continue
    return entries


def url_host_port(url: str) -> tuple[str, int | None]:
    """The lower-case host of ``url`` and its port (the scheme's default when absent)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(parts.scheme.lower())


def matches(url: str, entries: Iterable[HostEntry]) -> bool:
    """Whether ``url``'s host (and port) is one of ``entries``."""
    host, port = url_host_port(url)
    return bool(host) and any(e.host == host and e.port in (None, port) for e in entries)


def config_variables(config_file: str | Path | None = None) -> frozenset[str]:
    """Every environment variable ``config.py`` reads (found in its source, so none is missed)."""
    if config_file is None:
        return _portal_config_variables()
    tree = ast.parse(Path(config_file).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = ast.unparse(node.func)
            reads_env = func in ("os.environ.get", "os.getenv") or func.startswith("_env")
            if reads_env and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                names.add(str(node.slice.value))
    return frozenset(names)


@functools.cache
def _portal_config_variables() -> frozenset[str]:
    import config

    return config_variables(config.__file__)


def forbidden_reason(env: str, settings: Iterable[str] = ()) -> str | None:
    """Why ``env`` may not hold a credential (it is a portal setting), else None."""
    if env in PORTAL_VARIABLES or env in config_variables() or env in set(settings):
        return f"{env} is one of the portal's own settings"
    prefix = next((p for p in PORTAL_PREFIXES if env.startswith(p)), None)
    if prefix:
        return f"{env} starts with {prefix}, which is reserved for the portal's own settings"
    return None


def _declared(settings: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(source, name, spec) for every declared credential, from the variable and the file."""
    found: list[tuple[str, str, Any]] = []
    sources: list[tuple[str, Any]] = []
    inline = settings.get("PORTAL_CREDENTIALS")
    if inline:
        sources.append(("PORTAL_CREDENTIALS", inline))
    path = settings.get("PORTAL_CREDENTIALS_FILE")
    if path:
        try:
            sources.append((f"PORTAL_CREDENTIALS_FILE ({path})", Path(path).read_text()))
        except OSError as error:
            raise CredentialConfigError(
                f"PORTAL_CREDENTIALS_FILE: cannot read {path}: {error.strerror}") from None
    for source, value in sources:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise CredentialConfigError(
                    f"{source}: not valid JSON (line {error.lineno}, column {error.colno}: "
                    f"{error.msg})") from None
        if not isinstance(value, dict):
            raise CredentialConfigError(
                f'{source}: must be a JSON object such as {{"birdie": {{"env": '
                f'"BIRDIE_TOKEN", "hosts": ["api.birdie.org"]}}}}')
        found += [(source, str(name), spec) for name, spec in value.items()]
    return found


def load_credentials(settings: Mapping[str, Any],
                     environ: Mapping[str, str] | None = None) -> dict[str, Credential]:
    """Parse and check the declared credentials against ``settings`` (the app config).

    Returns:
        name -> Credential.

    Raises:
        CredentialConfigError: naming the source and the credential at fault.
    """
    environ = os.environ if environ is None else environ
    allowlist = allowlist_entries(settings.get("HTTP_ALLOWLIST") or [])
    credentials: dict[str, Credential] = {}
    for source, name, spec in _declared(settings):
        where = f"{source}: credential {name!r}"
        if not NAME_RE.match(name):
            raise CredentialConfigError(f"{where}: a name is 1-64 letters, digits, '.', '_' "
                                        "or '-', starting with a letter or digit")
        if name in credentials:
            raise CredentialConfigError(f"{where}: declared twice")
        if not isinstance(spec, dict) or set(spec) - {"env", "hosts", "description"}:
            raise CredentialConfigError(
                f'{where}: must be {{"env": "<VARIABLE>", "hosts": ["<host>", ...]}}')
        env = spec.get("env")
        if not isinstance(env, str) or not ENV_RE.match(env):
            raise CredentialConfigError(f"{where}: env must name an environment variable "
                                        "(A-Z, 0-9, _)")
        if reason := forbidden_reason(env, settings.keys()):
            raise CredentialConfigError(f"{where}: refused: {reason}; a credential's "
                                        "variable must hold that credential's token only")
        value = environ.get(env, "").strip()
        for setting in SECRET_SETTINGS:
            if value and value == str(settings.get(setting) or "").strip():
                raise CredentialConfigError(
                    f"{where}: refused: {env} holds the same value as the portal's {setting}")
        hosts = spec.get("hosts")
        if not isinstance(hosts, list) or not hosts:
            raise CredentialConfigError(f"{where}: hosts must be a non-empty list of host "
                                        "names")
        entries = []
        for entry in hosts:
            try:
                parsed = parse_host(entry)
            except ValueError as error:
                raise CredentialConfigError(f"{where}: {error}") from None
            if not any(a.host == parsed.host and a.port in (None, parsed.port)
                       for a in allowlist):
                raise CredentialConfigError(
                    f"{where}: host {parsed} is not in HTTP_ALLOWLIST "
                    f"({', '.join(map(str, allowlist)) or 'empty'}); add it there first")
            entries.append(parsed)
        credentials[name] = Credential(name, env, tuple(entries))
    return credentials


def init_app(app: Any) -> None:
    """Parse the app's credential declaration once; refuse to start when it is wrong."""
    app.extensions[EXTENSION_KEY] = load_credentials(app.config)


def declared_credentials(app: Any = None) -> dict[str, Credential]:
    """The credentials declared for ``app`` (default: the current app)."""
    if app is None:
        from flask import current_app

        app = current_app
    return app.extensions.get(EXTENSION_KEY, {})
