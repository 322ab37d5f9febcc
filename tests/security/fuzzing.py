"""Building blocks of the route fuzzer: hostile values, HTML form discovery, request plans.

The fuzzer derives everything it sends from the running app: the routes come from
``app.url_map``, the form fields from the forms the portal itself renders, so a new
route or a new field is fuzzed without touching this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

HUGE = "x" * 100_000
NUL = "\x00"

#: Values put into every query-string parameter and form field.
HOSTILE_VALUES: list[str] = [
    NUL, f"abc{NUL}def", HUGE, "-1", str(10**30), "abc", "0000-00-00", "0 0 30 2 *",
    "* * * * * *", "//evil.example", "\r\nSet-Cookie: evil=1", "<script>\U0001F426",
]

#: Values put into one form field at a time (the rest of the form left valid).
FIELD_VALUES: list[str] = [NUL, HUGE, str(10**30), "-1"]

#: Extra one-at-a-time values for fields whose name contains a key (cadence, zone, date).
FIELD_VALUES_BY_NAME: dict[str, list[str]] = {
    "cadence": ["0 0 30 2 *", "* * * * * *", "0 0 31 4,6,9,11 *", "@reboot", "0 0 1 1 * 1999"],
    "cron": ["0 0 30 2 *", "* * * * * *"],
    "zone": ["Mars/Olympus_Mons", "../../../etc/passwd", "UTC\x00", "Europe/" + "x" * 300],
    "date": ["0000-00-00", "9999-12-31", "2024-02-30", "-0001-01-01"],
    "email": ["a@b", "x" * 300 + "@example.org", "=cmd@example.org"],
    "draft": ["{", '{"steps": [' * 500, '{"steps": [{"type": "ingest.csv", "params": '
              '{"source": "\\u0000"}}]}', "[]", "null"],
    "pipeline": ["{", "[]", '{"steps": "x"}', '{"steps": [{"key": "' + "k" * 5000 + '"}]}',
                 '{"steps": [{"key": "ingest", "type": "ingest.csv", '
                 '"params": {"source": "a\\u0000.csv"}}]}'],
    "rules": ["{", "[]", '{"rules": [{"id": "x", "type": "regex", "column": "a", '
              '"pattern": "("}]}', '{"rules": [{"id": "a\\u0000", "type": "not_null", '
              '"severity": "error", "column": "x\\u0000"}]}'],
}

#: Values for page numbers.
PAGE_VALUES = ["0", "-1", str(10**30), "abc", "1.5", NUL, "", HUGE]

#: Values for ``next=`` (the sign-in redirect).
NEXT_VALUES = ["/runs\r\nSet-Cookie: evil=1", "//evil.example", "/\\evil.example",
               "https://evil.example/", "/%0d%0aLocation:%20https://evil.example", NUL]

#: Query-string names the views read (plus a nonsense one); all get the same value at once.
QUERY_NAMES = ["page", "next", "after", "before", "q", "status", "cadence", "scheduler",
               "alerts", "programme", "actor", "action", "date_from", "date_to", "window",
               "run_type", "severity", "state", "trigger", "dry_run", "job", "version",
               "format", "zzz"]

#: Values substituted into a path segment, by converter.
PATH_VALUES = {
    "default": [NUL, f"x{NUL}", "x" * 10_000, "..", str(10**30)],
    "int": ["0", str(2**31), str(10**30)],
    "path": [f"1.0/a{NUL}.csv", "1.0/../../../etc/passwd", "9" * 400 + ".0/a.csv"],
}

#: JSON API bodies: (description, raw bytes, content type).
JSON_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed", b"{", "application/json"),
    ("malformed array", b"[1, 2", "application/json"),
    ("nul byte raw", b"\x00", "application/json"),
    ("invalid utf-8", b"\xff\xfe\xfd", "application/json"),
    ("null", b"null", "application/json"),
    ("list", b"[]", "application/json"),
    ("string", b'"x"', "application/json"),
    ("number", b"1e999", "application/json"),
    ("NaN", b'{"note": NaN}', "application/json"),
    ("nul in string", json.dumps({"note": NUL, "run_type": NUL}).encode(), "application/json"),
    ("nul in key", json.dumps({NUL: 1}).encode(), "application/json"),
    ("huge string", json.dumps({"note": HUGE, "run_type": HUGE}).encode(), "application/json"),
    ("wrong types", b'{"note": 5, "run_type": [], "dry_run": "yes"}', "application/json"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("oversized", b'{"note": "' + b"x" * (3 * 1024 * 1024) + b'"}', "application/json"),
    ("text/plain", b'{"note": "x"}', "text/plain"),
    ("form-encoded", b"note=x&dry_run=1", "application/x-www-form-urlencoded"),
    ("multipart garbage", b"--x\r\nnonsense", "multipart/form-data; boundary=x"),
    ("json charset", b'{"note": "x"}', "application/json; charset=latin-9"),
]

#: Fields sent to a POST route whose form the portal does not render anywhere we look.
GENERIC_FIELDS = ["note", "name", "email", "code", "title", "action", "confirm", "reason"]


@dataclass
class Form:
    """One HTML form as rendered: its action, method and default field values."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    multi: dict[str, list[str]] = field(default_factory=dict)  # checkbox / multi-select
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def baselines(self) -> list[dict[str, Any]]:
        """The form as a browser would submit it, once per named submit button."""
        base: dict[str, Any] = dict(self.fields)
        base.update({name: values for name, values in self.multi.items()})
        if not self.buttons:
            return [base]
        return [{**base, name: value} for name, value in self.buttons]

    def button_names(self) -> set[str]:
        """The names of the form's submit buttons."""
        return {name for name, _ in self.buttons}

    def main_baseline(self) -> dict[str, Any]:
        """The submission that does the most: the "save" button when there is one."""
        options = self.baselines()
        saving = [b for b in options if any(str(v).lower() in ("save", "create", "add")
                                            for v in b.values())]
        return (saving or options)[-1]


def field_values(name: str) -> list[str]:
    """The values tried one at a time in the field ``name``."""
    extra = [v for key, values in FIELD_VALUES_BY_NAME.items() if key in name.lower()
             for v in values]
    return FIELD_VALUES + extra


class FormParser(HTMLParser):
    """Collect every ``<form>`` of a page with the values a browser would submit."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._select_multiple = False
        self._select_first: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = a.get("action") or a.get("hx-post") or self.page_url
            self._form = Form(urlsplit(action).path or urlsplit(self.page_url).path,
                              (a.get("method") or ("post" if "hx-post" in a else "get")).lower())
            self.forms.append(self._form)
            return
        form = self._form
        if form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    if kind == "checkbox":
                        form.multi.setdefault(name, []).append(a.get("value", "on"))
                    else:
                        form.fields[name] = a.get("value", "on")
                else:
                    form.fields.setdefault(name, "") if kind == "radio" else None
            elif kind == "submit":
                form.buttons.append((name, a.get("value", "")))
            elif kind == "file":
                form.fields.setdefault(name, "")
            else:
                form.fields[name] = a.get("value", "")
        elif tag == "button" and a.get("type", "submit") == "submit":
            form.buttons.append((name, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = name
            form.fields[name] = ""
        elif tag == "select":
            self._select, self._select_first = name, None
            self._select_multiple = "multiple" in a
            form.fields[name] = ""
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
                form.fields[self._select] = value
            if "selected" in a:
                if self._select_multiple:
                    form.multi.setdefault(self._select, []).append(value)
                else:
                    form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            if self._select_multiple and self._form is not None:
                self._form.fields.pop(self._select or "", None)
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self._form is not None:
            self._form.fields[self._textarea] += data


def forms_on(page_url: str, html: str) -> list[Form]:
    """The forms of a rendered page."""
    parser = FormParser(page_url)
    parser.feed(html)
    return parser.forms


def query_string(values: dict[str, str]) -> str:
    """A query string with every value percent-encoded (NUL becomes ``%00``)."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in values.items())


def path_segment(value: str) -> str:
    """A path segment percent-encoded as a browser would send it (``/`` kept for paths)."""
    return quote(value, safe="/%")
