"""What a ``source`` in a pipeline or rule set may name (DESIGN invariant 10).

A source is either a path relative to the programme's own namespace
``DATA_ROOT/<CODE>/`` (``inbox/latest``, ``occurrence.csv``) or
``shared:<folder>/<path>`` for a shared folder an admin granted to the programme.
Nothing else: no absolute path, no ``..``, no NUL byte, no other prefix.

This module is pure (no database, no files): the save services
(``portal.services.shared_folders.source_problems``), the runner and the rule
preview use it to find every source of a definition with its JSON path, and the
step connectors (``jobs.connectors.sources``) use :func:`split_source`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

SHARED_PREFIX = "shared:"
FOLDER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORM_HINT = ("a path relative to DATA_ROOT/<CODE>/ (the programme's folder, "
             "e.g. inbox/latest) or shared:<folder>/<path>")


class SourceFormError(ValueError):
    """A source is not of an accepted form; the message says why (no server path in it)."""


@dataclass(frozen=True)
class SourceRef:
    """A parsed source: ``folder`` is the shared folder's name, or None for the namespace."""

    folder: str | None
    path: PurePosixPath

    @property
    def shared(self) -> bool:
        """Whether the source names a shared folder."""
        return self.folder is not None


def clean_relative(text: str, what: str = "source") -> PurePosixPath:
    """Refuse empty paths, NUL bytes, absolute paths, drive letters and '..' segments.

    Args:
        text: a path as written (backslashes read as separators).
        what: how the path is named in the error message.

    Returns:
        The path as a PurePosixPath.
    """
    original = text
    text = text.replace("\\", "/")
    if not text or "\x00" in text:
        raise SourceFormError(f"{what} {original!r} is not a usable path")
    path = PurePosixPath(text)
    if path.is_absolute() or (len(text) > 1 and text[1] == ":"):
        # Not echoed: an absolute path is a server path, and messages never show one.
        raise SourceFormError(f"{what} must be {FORM_HINT}, not an absolute path")
    if ".." in path.parts:
        raise SourceFormError(f"{what} {original!r} must not contain '..'")
    if path == PurePosixPath("."):
        raise SourceFormError(f"{what} {original!r} names a folder, not a file")
    return path


def split_source(source: str, what: str = "source") -> SourceRef:
    """Parse ``source`` into a shared-folder name (or None) and a clean relative path.

    Raises:
        SourceFormError: the source is not of an accepted form.
    """
    if not isinstance(source, str):
        raise SourceFormError(f"{what} must be text")
    if source.startswith(SHARED_PREFIX):
        name, _, rest = source[len(SHARED_PREFIX):].partition("/")
        if not FOLDER_NAME_RE.match(name) or not rest:
            raise SourceFormError(f"{what} {source!r} must be shared:<folder>/<path>")
        return SourceRef(name, clean_relative(rest, what))
    path = clean_relative(source, what)
    if ":" in path.parts[0]:
        raise SourceFormError(f"{what} {source!r} must be {FORM_HINT}; "
                              "no other prefix is understood")
    return SourceRef(None, path)


def iter_sources(pipeline: Any, rules: Any) -> Iterator[tuple[str, str]]:
    """Yield ``(json_path, source)`` for every source a definition and rule set name.

    Pipeline paths start ``$.steps[i]``; rule paths ``$.rules[i]`` (the editors show
    them under their own field). Malformed documents yield nothing for their bad parts:
    the JSON Schema reports those.
    """
    steps = pipeline.get("steps") if isinstance(pipeline, dict) else None
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        params = step.get("params") if isinstance(step, dict) else None
        if isinstance(params, dict) and isinstance(params.get("source"), str):
            yield f"$.steps[{index}].params.source", params["source"]
    items = rules.get("rules") if isinstance(rules, dict) else None
    for index, rule in enumerate(items if isinstance(items, list) else []):
        vocabulary = rule.get("vocabulary") if isinstance(rule, dict) else None
        if isinstance(vocabulary, dict) and isinstance(vocabulary.get("source"), str):
            yield f"$.rules[{index}].vocabulary.source", vocabulary["source"]


def problems(sources: Iterator[tuple[str, str]], granted: set[str]) -> list[tuple[str, str]]:
    """``(json_path, message)`` for each source of a bad form or naming an ungranted folder.

    Args:
        sources: ``(json_path, source)`` pairs, e.g. from :func:`iter_sources`.
        granted: the names of the shared folders granted to the programme.
    """
    found = []
    for path, source in sources:
        try:
            ref = split_source(source)
        except SourceFormError as error:
            found.append((path, str(error)))
            continue
        if ref.shared and ref.folder not in granted:
            found.append((path, f"shared folder {ref.folder!r} is not granted to this "
                                "programme (an admin grants shared folders)"))
    return found


def rewrite_first_component(source: str, old: str, new: str | None) -> str:
    """Replace a namespace source's first component ``old`` (case-insensitive).

    With ``new`` None the component is dropped (``OLD/inbox/latest`` -> ``inbox/latest``);
    otherwise it becomes ``new``. Shared and single-component sources are unchanged.
    """
    if source.startswith(SHARED_PREFIX):
        return source
    parts = source.replace("\\", "/").split("/")
    if len(parts) < 2 or parts[0].upper() != old.upper():
        return source
    return "/".join(([new] if new else []) + parts[1:])
