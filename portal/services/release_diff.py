"""What changed between two releases: per table, schema, rows by key, and figures.

A table's key is the shortest run of its leading non-decimal columns (in column
order) that identifies every row in both releases — ``species`` for a trend table,
``site, period`` for richness. Rows are then matched by key: added, removed, or
changed when a value column differs (a number beyond the tolerance ``abs_tol +
rel_tol * |before|``, any other value when unequal). Without a unique key the rows
are compared whole (added / removed only). The largest numeric changes and every
changed text value (a trend verdict) are listed, up to ``LIMIT`` each.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import polars as pl

LIMIT = 20
ABS_TOL = 1e-9
REL_TOL = 1e-6


def read_csv(data: bytes) -> pl.DataFrame:
    """A published CSV as a frame, types inferred the same way for both sides."""
    return pl.read_csv(io.BytesIO(data), infer_schema_length=None, try_parse_dates=False)


def table_key(old: pl.DataFrame, new: pl.DataFrame) -> list[str]:
    """The shortest leading run of shared non-decimal columns unique in both frames."""
    candidates = [name for name in new.columns
                  if name in old.columns and not new.schema[name].is_float()
                  and not old.schema[name].is_float()]
    for size in range(1, len(candidates) + 1):
        key = candidates[:size]
        if all(frame.select(key).is_unique().all() for frame in (old, new)):
            return key
    return []


def _changed(before: Any, after: Any, numeric: bool, abs_tol: float, rel_tol: float) -> bool:
    if before is None or after is None:
        return (before is None) != (after is None)
    if numeric:
        return abs(after - before) > abs_tol + rel_tol * abs(before)
    return before != after


def diff_tables(old: pl.DataFrame | None, new: pl.DataFrame | None, *,
                abs_tol: float = ABS_TOL, rel_tol: float = REL_TOL) -> dict[str, Any]:
    """Compare two versions of one table (None: the table is new or gone).

    Returns:
        ``{"status", "key", "schema": {added, removed, retyped}, "rows": {before, after,
        added, removed, changed}, "changed_columns": {column: rows}, "largest_changes",
        "text_changes"}``.
    """
    if old is None or new is None:
        frame = new if old is None else old
        rows = frame.height if frame is not None else 0
        return {"status": "added" if old is None else "removed", "key": [],
                "schema": {"added": [], "removed": [], "retyped": []},
                "rows": {"before": 0 if old is None else rows,
                         "after": rows if old is None else 0,
                         "added": rows if old is None else 0,
                         "removed": 0 if old is None else rows, "changed": 0},
                "changed_columns": {}, "largest_changes": [], "text_changes": []}
    schema = {
        "added": [c for c in new.columns if c not in old.columns],
        "removed": [c for c in old.columns if c not in new.columns],
        "retyped": [{"column": c, "from": str(old.schema[c]), "to": str(new.schema[c])}
                    for c in new.columns if c in old.columns and old.schema[c] != new.schema[c]],
    }
    key = table_key(old, new)
    shared = [c for c in new.columns if c in old.columns]
    result: dict[str, Any] = {"key": key, "schema": schema, "changed_columns": {},
                              "largest_changes": [], "text_changes": []}
    if not key:  # no key: whole rows, as multisets of the shared columns
        before, after = old.select(shared), new.select(shared)
        added = after.join(before, on=shared, how="anti", nulls_equal=True).height
        removed = before.join(after, on=shared, how="anti", nulls_equal=True).height
        result["rows"] = {"before": old.height, "after": new.height, "added": added,
                          "removed": removed, "changed": 0}
    else:
        added = new.join(old, on=key, how="anti", nulls_equal=True).height
        removed = old.join(new, on=key, how="anti", nulls_equal=True).height
        values = [c for c in shared if c not in key]
        both = old.select(key + values).join(new.select(key + values), on=key, how="inner",
                                             suffix="__new", nulls_equal=True)
        changed_rows: set[tuple] = set()
        numeric_changes: list[dict[str, Any]] = []
        for column in values:
            numeric = old.schema[column].is_numeric() and new.schema[column].is_numeric()
            count = 0
            for row in both.select(key + [column, f"{column}__new"]).iter_rows():
                ident, before, after = row[:len(key)], row[-2], row[-1]
                if not _changed(before, after, numeric, abs_tol, rel_tol):
                    continue
                count += 1
                changed_rows.add(ident)
                entry = {"key": dict(zip(key, ident, strict=True)), "column": column,
                         "before": before, "after": after}
                if numeric and before is not None and after is not None:
                    numeric_changes.append({**entry, "delta": after - before})
                else:
                    result["text_changes"].append(entry)
            if count:
                result["changed_columns"][column] = count
        numeric_changes.sort(key=lambda e: abs(e["delta"]), reverse=True)
        result["largest_changes"] = numeric_changes[:LIMIT]
        result["text_changes"] = result["text_changes"][:LIMIT]
        result["rows"] = {"before": old.height, "after": new.height, "added": added,
                          "removed": removed, "changed": len(changed_rows)}
    rows = result["rows"]
    moved = rows["added"] or rows["removed"] or rows["changed"] or any(schema.values())
    result["status"] = "changed" if moved else "unchanged"
    return result


def headline(name: str, table: Mapping[str, Any]) -> str:
    """One sentence for a table's diff: "richness: 3 rows changed (richness), 12 added"."""
    if table["status"] in ("added", "removed"):
        return f"{name}: new table" if table["status"] == "added" else f"{name}: table removed"
    rows = table["rows"]
    parts = []
    if rows["changed"]:
        columns = ", ".join(table["changed_columns"])
        parts.append(f"{rows['changed']} row{'s' if rows['changed'] != 1 else ''} changed "
                     f"({columns})")
    parts += [f"{rows[k]} {k}" for k in ("added", "removed") if rows[k]]
    schema = table["schema"]
    parts += [f"column {c} {verb}" for verb, cs in (("added", schema["added"]),
                                                   ("removed", schema["removed"])) for c in cs]
    parts += [f"column {r['column']} now {r['to']}" for r in schema["retyped"]]
    for change in table["text_changes"][:3]:
        who = ", ".join(str(v) for v in change["key"].values())
        parts.append(f"{change['column']} for {who} moved from {change['before']} "
                     f"to {change['after']}")
    return f"{name}: " + ("; ".join(parts) if parts else "unchanged")


def diff_releases(old: Mapping[str, bytes] | None, new: Mapping[str, bytes],
                  old_version: str | None, new_version: str | None, *,
                  abs_tol: float = ABS_TOL, rel_tol: float = REL_TOL) -> dict[str, Any]:
    """Diff every CSV of two releases (file name -> bytes); ``old`` None: a first release.

    Returns:
        ``{"from", "to", "tolerance", "tables": {resource: diff}, "headlines": [...]}``.
    """
    old = old or {}
    names = [n for n in new if n.endswith(".csv")]
    names += [n for n in old if n.endswith(".csv") and n not in new]
    tables: dict[str, Any] = {}
    for name in names:
        resource = name.removesuffix(".csv")
        tables[resource] = diff_tables(read_csv(old[name]) if name in old else None,
                                       read_csv(new[name]) if name in new else None,
                                       abs_tol=abs_tol, rel_tol=rel_tol)
    return {"from": old_version if old_version is not None and old else None,
            "to": new_version, "tolerance": {"absolute": abs_tol, "relative": rel_tol},
            "tables": tables,
            "headlines": [headline(n, t) for n, t in tables.items() if t["status"] != "unchanged"]}
