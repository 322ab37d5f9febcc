"""The explicit step registry: a step type name -> the plain function that runs it.

Type names and their parameter schemas are declared in
``portal.services.pipeline_spec`` (so the portal can validate a definition without
importing ``jobs``); this module binds each declared name to code.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from jobs.steps.base import StepFunc

STEP_REGISTRY: dict[str, StepFunc] = {}


def register(type_name: str) -> Callable[[StepFunc], StepFunc]:
    """Decorator: bind ``type_name`` to the decorated step function."""

    def bind(func: StepFunc) -> StepFunc:
        STEP_REGISTRY[type_name] = func
        return func

    return bind


def get_step(type_name: str) -> StepFunc:
    """Return the step function for ``type_name``; KeyError names the unknown type."""
    load_builtin_steps()
    try:
        return STEP_REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown step type {type_name!r}") from None


_loaded = False


def load_builtin_steps() -> None:
    """Import the built-in step modules once so their ``@register`` calls run."""
    global _loaded
    if _loaded:
        return
    import importlib

    for module in ("ingest", "camtrap", "validate", "transform", "compute", "trim", "msi",
                   "publish"):
        try:
            importlib.import_module(f"jobs.steps.{module}")
        except ModuleNotFoundError as exc:  # a step family not built yet
            if exc.name != f"jobs.steps.{module}":
                raise
    # Extra step modules (the test suite's no-op and failing steps) for worker processes.
    for module in os.environ.get("PORTAL_EXTRA_STEP_MODULES", "").split(","):
        if module.strip():
            importlib.import_module(module.strip())
    _loaded = True
