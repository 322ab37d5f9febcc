"""Release licences: what a programme's ``licence`` may say and how a release names it.

A licence is an SPDX identifier (``CC-BY-4.0``) or the URL of a licence text, optionally
followed by a title (``https://example.org/terms Example open terms``). A release's
licence is declared by the pipeline's publish step, the programme or the input's own
metadata — never defaulted (``jobs.steps.publish`` decides which, and refuses when
none does). This module imports neither Flask nor polars so steps and forms share it.
"""

from __future__ import annotations

import re

KNOWN_LICENCES = {
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0"),
    "CC-BY-4.0": ("https://creativecommons.org/licenses/by/4.0/", "CC BY 4.0"),
    "CC-BY-SA-4.0": ("https://creativecommons.org/licenses/by-sa/4.0/", "CC BY-SA 4.0"),
    "CC-BY-NC-4.0": ("https://creativecommons.org/licenses/by-nc/4.0/", "CC BY-NC 4.0"),
    "ODbL-1.0": ("https://opendatacommons.org/licenses/odbl/1-0/", "ODbL 1.0"),
    "ODC-By-1.0": ("https://opendatacommons.org/licenses/by/1-0/", "ODC-By 1.0"),
    "PDDL-1.0": ("https://opendatacommons.org/licenses/pddl/1-0/", "PDDL 1.0"),
}
# Licence URLs as publishers write them (http or https, with or without "legalcode").
_KNOWN_BY_URL = {path.split("://", 1)[1].rstrip("/"): name
                 for name, (path, _) in KNOWN_LICENCES.items()}
SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}\Z")
URL = re.compile(r"^https?://[^\s<>\"]{3,500}\Z")
MAX_LENGTH = 300
HINT = ("An SPDX licence id such as CC-BY-4.0 or CC0-1.0, or the URL of the licence "
        "text followed by its title. Releases carry it in datapackage.json; leave it "
        "empty only if every input declares its own licence.")


def licence_error(value: str) -> str | None:
    """Why ``value`` is not a usable licence, or None (the empty string is allowed)."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > MAX_LENGTH:
        return f"The licence is too long ({MAX_LENGTH} characters at most)."
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "The licence must be one line of text (no control characters)."
    first, _, _title = value.partition(" ")
    if URL.match(first) or SPDX_ID.match(value):
        return None
    return ("Give an SPDX licence id such as CC-BY-4.0, or a URL starting with https:// "
            "followed by the licence's title.")


def known_name(url: str) -> str | None:
    """The SPDX id of a well-known licence URL (Creative Commons, Open Data Commons)."""
    key = url.split("://", 1)[-1].rstrip("/")
    for suffix in ("/legalcode", "/legalcode.en"):
        key = key.removesuffix(suffix)
    return _KNOWN_BY_URL.get(key.rstrip("/"))


def licence_descriptor(value: str) -> dict[str, str]:
    """A Data Package ``licenses`` entry (name, path, title) from a licence value."""
    value = value.strip()
    first, _, title = value.partition(" ")
    if URL.match(first):
        name = known_name(first)
        if name and not title:
            path, title = KNOWN_LICENCES[name]
            return {"name": name, "path": path, "title": title}
        entry = {"path": first, "title": title.strip() or first}
        return {"name": name, **entry} if name else entry
    if value in KNOWN_LICENCES:
        path, title = KNOWN_LICENCES[value]
        return {"name": value, "path": path, "title": title}
    return {"name": value, "title": value}
