"""Every route × hostile input never yields a 500 (issue 9, part 4 and 7).

The routes come from ``app.url_map`` and the form fields from the forms the portal
renders, so a new route or field is fuzzed automatically. Each route is hit signed
out, as an admin and as a plain steward with: NUL bytes, odd and enormous numbers,
100 kB strings, hostile ``next=`` values and dates in the query string; the same in
every field of every form that posts to it (with a real CSRF token); NUL bytes,
enormous integers and path tricks in each path segment; and malformed, oversized,
deeply nested or mistyped JSON bodies on POST routes. Any response ≥ 500, or an
exception escaping the app, is collected and reported at the end of the test.
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.routing import IntegerConverter, PathConverter

from portal import create_app
from portal.auth.tokens import create_token
from portal.extensions import db
from tests.conftest import IS_POSTGRES, AuthActions
from tests.factories import gen_alert, gen_programme, gen_run, gen_steward, gen_user
from tests.security.fuzzing import (
    GENERIC_FIELDS,
    HOSTILE_VALUES,
    HUGE,
    JSON_BODIES,
    NEXT_VALUES,
    PAGE_VALUES,
    PATH_VALUES,
    QUERY_NAMES,
    Form,
    field_values,
    forms_on,
    path_segment,
    query_string,
)

ROLES = ["anonymous", "steward", "admin"]
#: The query parameters that get the 100 kB value (all of them would make a 2 MB URL).
HUGE_QUERY_NAMES = ("q", "next", "page", "actor", "zzz")
FUZZ_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "birds.csv"}},
    {"key": "validate", "type": "validate.rules", "params": {}},
]}
RULES = {"rules": [{"id": "taxon-present", "type": "not_null", "severity": "error",
                    "column": "scientificName"}]}
#: Pages whose forms post to other routes (action buttons, triage, token revocation).
SOURCE_PAGES = ["/programmes/{code}", "/alerts", "/runs/{run_uuid}", "/account/tokens",
                "/admin/users/{user_id}", "/programmes/{code}/inbox", "/"]


def _route_rules() -> list[str]:
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted({rule.rule for rule in app.url_map.iter_rules()})


ROUTES = _route_rules()


@dataclass
class Fuzzer:
    """Sends requests, counts them and collects every response ≥ 500."""

    client: Any
    values: dict[str, str]
    csrf: str = ""
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    _forms: list[Form] | None = None

    def send(self, method: str, url: str, what: str, **kwargs: Any):
        """One request; a 5xx or an escaping exception is recorded, not raised."""
        self.sent += 1
        try:
            response = self.client.open(url, method=method, **kwargs)
        except Exception as error:  # noqa: BLE001 - the point is to collect them all
            db.session.rollback()
            frame = traceback.extract_tb(error.__traceback__)[-1]
            self.failures.append(f"{method} {url[:150]} [{what}]: {type(error).__name__}: "
                                 f"{str(error)[:200]} at {frame.filename}:{frame.lineno}")
            return None
        db.session.rollback()
        if response.status_code >= 500:
            self.failures.append(f"{method} {url[:150]} [{what}]: {response.status_code}")
        return response

    def forms(self) -> list[Form]:
        """Every form on the pages that carry forms for other routes (fetched once)."""
        if self._forms is None:
            self._forms = []
            for template in SOURCE_PAGES:
                url = template.format(**self.values)
                response = self.client.get(url)
                if response.status_code == 200 and response.mimetype == "text/html":
                    self._forms += forms_on(url, response.get_data(as_text=True))
        return self._forms


@pytest.fixture
def fuzz_world(app) -> dict[str, Any]:
    """A programme with a run, an alert, a release and a rejection report; users and tokens."""
    programme = gen_programme("FUZZ", pipeline_definition_json=PIPELINE,
                              data_quality_rules_json=RULES, refresh_cadence="weekly",
                              timezone="Europe/Madrid")
    gen_programme("OTHER")
    admin = gen_user("admin@x.org", is_admin=True)
    steward = gen_user("steward@x.org")
    gen_steward(programme, steward, "steward")
    run = gen_run(programme, status="blocked")
    alert = gen_alert(programme)
    token, _ = create_token(steward, "fuzz")
    release = Path(app.config["PUBLISH_ROOT"]) / "FUZZ" / "1.0"
    release.mkdir(parents=True)
    (release / "richness.csv").write_text("site,richness\n=1+1,3\n")
    return {"code": "FUZZ", "run_uuid": run.uuid, "alert_uuid": alert.uuid, "job_id": "no-job",
            "user_id": str(steward.id), "token_id": str(token.id),
            "release_path": "1.0/richness.csv", "filename": "portal.css",
            "emails": {"admin": admin.email, "steward": steward.email}}


def _kind(converter: Any) -> str:
    if isinstance(converter, IntegerConverter):
        return "int"
    if isinstance(converter, PathConverter):
        return "path"
    return "default"


def _build(rule: Any, values: dict[str, str], override: tuple[str, str] | None = None) -> str:
    """The rule's URL with valid values, or ``override`` = (argument, hostile value)."""

    def value_for(match: re.Match) -> str:
        name = match.group(1)
        if override and override[0] == name:
            return path_segment(override[1])
        return values.get(name, "x")

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value_for, rule.rule)


def _fuzz_route(fz: Fuzzer, rule: Any, signed_in: bool, privileged: bool) -> None:
    methods = [m for m in FUZZ_METHODS if m in rule.methods]
    url = _build(rule, fz.values)
    is_api = url.startswith("/api/")
    post = "POST" in methods

    def post_kwargs(data: dict[str, Any] | None = None) -> dict[str, Any]:
        if is_api:
            return {"json": data or {}, "headers": {"X-CSRFToken": fz.csrf}}
        return {"data": {**(data or {}), "csrf_token": fz.csrf}}

    # A route that refuses the caller (signed out: sign-in redirect or 401; a steward: 403
    # or 404) answers every variant the same way once the request-level guards have run,
    # so a short set of variants covers it.
    probe = fz.send(methods[0], url, "plain", **(post_kwargs() if methods[0] == "POST" else {}))
    refused = (401, 403, 404) if signed_in and not privileged else (401,)
    gated = not privileged and probe is not None and (
        probe.status_code in refused or "/login" in probe.headers.get("Location", ""))

    # Path segments.
    for name in rule.arguments:
        kind = _kind(rule._converters[name])
        values = PATH_VALUES["default"] + PATH_VALUES[kind]
        for value in dict.fromkeys(values[:2] if gated else values):
            target = _build(rule, fz.values, (name, value))
            for method in methods:
                kwargs = post_kwargs() if method == "POST" else {}
                fz.send(method, target, f"path {name}={value[:20]!r}", **kwargs)
        fz.send(methods[0], url + "%00", "NUL after the path")

    # Query strings.
    queries = [{n: v for n in QUERY_NAMES if v != HUGE or n in HUGE_QUERY_NAMES}
               for v in HOSTILE_VALUES] + [{"\x00": "x"}]
    if gated:
        queries = queries[:3]
    elif "GET" in methods:  # pages and redirects: lists and the sign-in form
        queries += [{"page": page, "next": target, "per_page": page} for page, target
                    in zip(PAGE_VALUES, NEXT_VALUES + NEXT_VALUES[:2], strict=True)]
    for query in queries:
        target = f"{url}?{query_string(query)}"
        what = f"query {next(iter(query))}={next(iter(query.values()))[:20]!r}"
        if "GET" in methods:
            fz.send("GET", target, what, headers={"HX-Request": "true"} if fz.sent % 2 else {})
        elif post:
            fz.send("POST", target, what, **post_kwargs())

    if not post:
        return
    # Form fields (HTML routes): every field of every form that posts here.
    if not is_api and not gated:
        pages = []
        if "GET" in methods and signed_in:
            response = fz.client.get(url)
            if response.status_code == 200 and response.mimetype == "text/html":
                pages = forms_on(url, response.get_data(as_text=True))
        def posting_here(found: list[Form]) -> list[Form]:
            return [f for f in found if f.method == "post" and f.action == url]

        forms = posting_here(pages + _login_forms(fz, url))
        if not forms and signed_in:  # action buttons on other pages (archive, triage, …)
            forms = posting_here(fz.forms())
        if not forms:
            forms = [Form(url, "post", {name: "" for name in GENERIC_FIELDS})]
        for form in forms:
            for baseline in form.baselines():  # each submit button once, as rendered
                fz.send("POST", url, "baseline form", **post_kwargs(baseline))
            main = form.main_baseline()
            for value in HOSTILE_VALUES:  # every field at once
                hostile = {name: value for name in main if name != "csrf_token"}
                fz.send("POST", url, f"all fields={value[:20]!r}", **post_kwargs(hostile))
            for name in main:  # one field at a time, the rest as rendered
                if name == "csrf_token" or name in form.button_names():
                    continue
                for value in field_values(name):
                    fz.send("POST", url, f"field {name}={value[:20]!r}",
                            **post_kwargs({**main, name: value}))
    # JSON bodies (every POST route: the API's own, and forms sent JSON by mistake).
    bodies = JSON_BODIES if is_api else JSON_BODIES[:4] + JSON_BODIES[9:10] + JSON_BODIES[13:15]
    for what, raw, content_type in bodies:
        fz.send("POST", url, f"json {what}", data=raw, content_type=content_type,
                headers={"X-CSRFToken": fz.csrf})


def _login_forms(fz: Fuzzer, url: str) -> list[Form]:
    if url != "/login":
        return []
    response = fz.client.get("/login")
    return forms_on("/login", response.get_data(as_text=True)) if response.status_code == 200 \
        else []


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_input_never_yields_a_500(app, fuzz_world, route):
    """Every hostile variant of this route answers below 500, for each role in turn.

    The admin goes last: what an admin's hostile posts change (a deactivated steward,
    an archived programme) cannot narrow the steward's pass.
    """
    rule = next(r for r in app.url_map.iter_rules() if r.rule == route)
    failures: list[str] = []
    for role in ROLES:
        client = app.test_client()  # a fresh cookie jar per role
        auth = AuthActions(client)
        signed_in = role != "anonymous"
        if signed_in:
            assert auth.login(fuzz_world["emails"][role]).status_code == 302
        fz = Fuzzer(client, fuzz_world)
        fz.csrf = auth.csrf_token("/" if signed_in else "/login")
        _fuzz_route(fz, rule, signed_in, privileged=role == "admin")
        _record(route, role, fz.sent, len(fz.failures))
        failures += [f"as {role}: {failure}" for failure in fz.failures]
    assert not failures, (f"{len(failures)} requests to {route} answered ≥ 500:\n"
                          + "\n".join(failures[:40]))


def _record(route: str, role: str, sent: int, failures: int) -> None:
    """Append the request count to FUZZ_STATS (when set) for the report."""
    stats = os.environ.get("FUZZ_STATS")
    if stats:
        with open(stats, "a", encoding="utf-8") as handle:
            database = "postgresql" if IS_POSTGRES else "sqlite"
            handle.write(f"{database}\t{role}\t{route}\t{sent}\t{failures}\n")
