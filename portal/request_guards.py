"""Request-level guards against hostile input, applied before any view runs.

- NUL bytes: PostgreSQL refuses them in text, and no name, code or note of the portal
  contains one. A NUL in a path segment is "not found" (404); in a query string, a
  form field, an uploaded file's name or a JSON string it is a 400 naming the field.
- JSON bodies are parsed here once (views read the cached result): malformed,
  too deeply nested or too large bodies get a 400 / 413 with a message instead of
  reaching a view.
- ``<int:...>`` URL parts larger than the database's integer are "not found",
  instead of an overflow error in the database driver.
- Behind a TLS-terminating proxy (``TRUST_PROXY_HEADERS``), ``X-Forwarded-Proto``
  and ``X-Forwarded-For`` are honoured through Werkzeug's ``ProxyFix``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

from portal.errors import error_response
from portal.services.json_text import MAX_DEPTH, nesting_error_at

NUL = "\x00"
#: The largest value of the databases' (32-bit) integer primary keys.
MAX_DB_INTEGER = 2**31 - 1
DEFAULT_MAX_JSON_BYTES = 1024 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DatabaseIntegerConverter(IntegerConverter):
    """``<int:...>`` that only matches values a database integer column can hold."""

    def to_python(self, value: str) -> int:
        """Refuse (as "no such route") integers beyond the database's range."""
        number = super().to_python(value)
        if number > MAX_DB_INTEGER:
            raise ValidationError()
        return number


def _nul_in_mapping(mapping: Any) -> str | None:
    """The first key of a MultiDict whose name or any value holds a NUL byte."""
    for key, values in mapping.lists():
        if NUL in key or any(isinstance(v, str) and NUL in v for v in values):
            return _visible(key)
    return None


def _visible(name: str) -> str:
    return name.replace(NUL, "\\0")


def _json_nul_path(document: Any) -> str | None:
    """The JSON path (``$.a[0].b``) of the first string or key holding a NUL byte."""
    stack: list[tuple[str, Any]] = [("$", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    return f"{path}.{_visible(key)}"
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _check_json() -> Any:
    """Parse the JSON body (cached for the view); a response when it is refused."""
    json_limit = int(current_app.config.get("MAX_JSON_BYTES") or DEFAULT_MAX_JSON_BYTES)
    if request.content_length is not None and request.content_length > json_limit:
        return error_response(413, f"The JSON body is larger than the {json_limit // 1024} KB "
                                   "limit.", "body")
    request.max_content_length = json_limit  # also caps bodies sent without a length
    raw = request.get_data(cache=True)
    if not raw:
        return None
    if nesting_error_at(raw) is not None:
        return error_response(400, f"The JSON body nests more than {MAX_DEPTH} levels deep.",
                              "body")
    try:
        document = request.get_json()
    except BadRequest:
        return error_response(400, "The request body is not valid JSON (check quotes, commas "
                                   "and brackets, and that it is UTF-8).", "body")
    path = _json_nul_path(document)
    if path:
        return error_response(400, f"{path} contains a NUL byte (\\0), which is not allowed.",
                              path)
    return None


def refuse_hostile_input():
    """``before_request``: refuse NUL bytes and bad JSON bodies with a clear error."""
    if NUL in request.path:
        abort(404)
    name = _nul_in_mapping(request.args)
    if name is not None:
        return error_response(400, f"The query parameter {name!r} contains a NUL byte (\\0), "
                                   "which is not allowed.", name)
    if request.method not in BODY_METHODS:
        return None
    if request.is_json:
        return _check_json()
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        name = _nul_in_mapping(request.form)
        if name is None:
            name = next((key for key, storage in request.files.items(multi=True)
                         if NUL in (storage.filename or "")), None)
        if name is not None:
            return error_response(400, f"The field {name!r} contains a NUL byte (\\0), which "
                                       "is not allowed.", name)
    return None


def init_app(app: Flask) -> None:
    """Install the guards; call before blueprints are registered (the int converter)."""
    app.url_map.converters["int"] = DatabaseIntegerConverter
    app.before_request(refuse_hostile_input)
    if app.config.get("TRUST_PROXY_HEADERS"):
        # One proxy in front (nginx, a load balancer) sets the forwarded headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)
