"""Turn JSON records (from an API or inline package data) into an all-string frame."""

from __future__ import annotations

from typing import Any

import polars as pl

from jobs.steps.base import StepError


def records_to_frame(records: list[Any], name: str) -> pl.DataFrame:
    """Build a frame of strings from a list of JSON objects (or of rows after a header row).

    Scalars become their text (``3`` -> ``"3"``, ``true`` -> ``"true"``); nested
    objects and arrays become their JSON text, so nothing is lost.

    Args:
        records: a list of dicts, or a list of lists whose first item is the header.
        name: the source's name, used in error messages.
    """
    if not records:
        return pl.DataFrame()
    if not isinstance(records[0], list | dict):
        raise StepError(
            f"{name}: records must all be JSON objects (or rows under a header row), "
            f"found {type(records[0]).__name__}"
        )
    try:
        if isinstance(records[0], list):
            header = [str(column) for column in records[0]]
            frame = pl.DataFrame(records[1:], schema=header, orient="row", strict=False)
        else:
            frame = pl.from_dicts(records, infer_schema_length=None, strict=False)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise StepError(
            f"{name}: records must all be JSON objects (or rows under a header row): {exc}"
        ) from None
    return frame.select(
        (
            _json_text(column)
            if frame.schema[column].is_nested()
            else pl.col(column).cast(pl.String)
        ).alias(column)
        for column in frame.columns
    )


def _json_text(column: str) -> pl.Expr:
    """A nested column as JSON text: encode ``{"v": value}`` and keep the value's part."""
    wrapped = pl.struct(pl.col(column).alias("v")).struct.json_encode()
    text = wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")
    return pl.when(pl.col(column).is_not_null()).then(text)


def dig(document: Any, dotted_path: str | None, name: str) -> list[Any]:
    """Return the list of records at ``dotted_path`` (e.g. ``data.records``) in a JSON answer.

    Without a path the answer itself must be a list. A digit segment indexes a list.
    """
    node = document
    walked: list[str] = []
    for key in (dotted_path or "").split(".") if dotted_path else []:
        walked.append(key)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            keys = ", ".join(list(node)[:10]) if isinstance(node, dict) else type(node).__name__
            raise StepError(f"{name}: records_path {'.'.join(walked)!r} not found (has: {keys})")
    if not isinstance(node, list):
        keys = ", ".join(list(node)[:10]) if isinstance(node, dict) else type(node).__name__
        raise StepError(
            f"{name}: the answer at records_path {dotted_path or '(top level)'!r} is not a "
            f"list of records (found: {keys}); set records_path"
        )
    return node
