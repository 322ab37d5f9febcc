"""Which table each rule checks: one rule document per programme, many tables.

A rule names its table with ``"table"`` (``"deployments"``); a rule without one checks
the validation step's own table (``params.table``, else the run's primary table), so
rule sets written before tables had names keep working unchanged.

``reference`` rules used ``table`` for the *other* table (the one holding the known
values) before rules had tables; a reference rule names that one ``ref_table`` now.
One that still has only ``table`` keeps its old meaning: it checks the step's own
table against ``table``.
"""

from __future__ import annotations

from typing import Any


def checked_table(rule: dict[str, Any]) -> str | None:
    """The table ``rule`` checks, or None for "the validation step's own table"."""
    if rule.get("type") == "reference" and "ref_table" not in rule:
        return None  # the old form: "table" is the referenced table
    return rule.get("table")


def referenced_table(rule: dict[str, Any]) -> str | None:
    """The table a ``reference`` rule looks values up in."""
    return rule.get("ref_table") or rule.get("table")


def rules_by_table(rules: list[dict[str, Any]], default: str | None,
                   only: list[str] | None = None) -> dict[str | None, list[dict[str, Any]]]:
    """Group ``rules`` by the table they check, in the order tables are first named.

    Args:
        rules: the programme's rules.
        default: the table of rules that name none (the step's table or the primary).
        only: check only these tables (the step's ``params.tables``); None: every table
            that has rules.

    Returns:
        table name -> its rules (rule order kept). The key is None only when a rule
        names no table and there is no default table.
    """
    grouped: dict[str | None, list[dict[str, Any]]] = {}
    for rule in rules:
        table = checked_table(rule) or default
        if only is not None and table not in only:
            continue
        grouped.setdefault(table, []).append(rule)
    for table in only or []:
        grouped.setdefault(table, [])
    return grouped
