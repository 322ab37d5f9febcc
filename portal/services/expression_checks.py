"""Save-time syntax checks of the expressions in a pipeline and in a rule set.

Conditions (``transform.filter``, rules' ``condition``) and derived columns
(``transform.derive``) are text in the expression language
(``portal.services.expression_language``). Their syntax is checked when a pipeline or
a rule set is saved, so a typo is reported at its JSON path and character position
instead of failing a run later. Whether the columns exist is only known at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from portal.services.expression_language import ExpressionError, parse

#: Step types and the params holding one expression (``"columns"``: a mapping of them).
EXPRESSION_PARAMS: dict[str, tuple[str, ...]] = {
    "transform.filter": ("condition",),
    "transform.derive": ("columns",),
}


def _problem(path: str, text: Any) -> tuple[str, str] | None:
    if not isinstance(text, str):
        return None  # the schema reports a value of the wrong type
    try:
        parse(text)
    except ExpressionError as exc:
        return path, f"syntax error: {exc}"
    return None


def _pipeline_expressions(definition: Any) -> Iterator[tuple[str, Any]]:
    steps = definition.get("steps") if isinstance(definition, dict) else None
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or not isinstance(step.get("params"), dict):
            continue
        for name in EXPRESSION_PARAMS.get(step.get("type"), ()):
            value = step["params"].get(name)
            path = f"$.steps[{index}].params.{name}"
            if isinstance(value, dict):
                for column, text in value.items():
                    yield f"{path}.{column}", text
            elif value is not None:
                yield path, value


def pipeline_expression_problems(definition: Any) -> list[tuple[str, str]]:
    """(JSON path, message) for each expression of ``definition`` that does not parse."""
    found = (_problem(path, text) for path, text in _pipeline_expressions(definition))
    return [problem for problem in found if problem]


def rules_expression_problems(document: Any) -> list[tuple[str, str]]:
    """(JSON path, message) for each rule ``condition`` written as text that does not parse."""
    rules = document.get("rules") if isinstance(document, dict) else None
    found = (_problem(f"$.rules[{index}].condition", rule.get("condition"))
             for index, rule in enumerate(rules if isinstance(rules, list) else [])
             if isinstance(rule, dict) and isinstance(rule.get("condition"), str))
    return [problem for problem in found if problem]
