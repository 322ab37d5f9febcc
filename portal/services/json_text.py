"""Parsing JSON that users type or send, with a nesting limit.

Python's ``json`` parser recurses once per ``[`` or ``{``, so a few kilobytes of
brackets raise ``RecursionError`` (a 500) instead of a parse error. ``loads`` refuses
such documents first with an ordinary ``json.JSONDecodeError`` that callers already
turn into a field error. No configuration, pipeline or API body of the portal comes
anywhere near the limit.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")


def nesting_error_at(text: str | bytes, limit: int = MAX_DEPTH) -> int | None:
    """The offset where brackets outside strings first nest deeper than ``limit``, or None."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= limit:
        return None  # the common case, without a character-by-character walk
    depth, in_string, escaped = 0, False, False
    for offset, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPEN:
            depth += 1
            if depth > limit:
                return offset
        elif char in _CLOSE:
            depth -= 1
    return None


def loads(text: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``limit``.

    Raises:
        json.JSONDecodeError: not JSON, or nested too deeply (the message says which).
    """
    offset = nesting_error_at(text, limit)
    if offset is not None:
        document = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        raise json.JSONDecodeError(f"nested more than {limit} levels deep", document, offset)
    return json.loads(text)
