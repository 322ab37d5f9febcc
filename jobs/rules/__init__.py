"""Data-quality rules: one vectorised check per rule type, and the engine that runs a rule set.

Rule types and their parameters are declared (JSON Schema) in
``portal.services.pipeline_spec.RULE_TYPES``; ``RULE_CHECKS`` binds each to code.
"""

from jobs.rules import spatial, structure, temporal, values  # noqa: F401  (register checks)
from jobs.rules.base import RULE_CHECKS, RuleConfigError, RuleEnv
from jobs.rules.engine import BLOCKING_SEVERITIES, Evaluation, evaluate_rules

__all__ = [
    "BLOCKING_SEVERITIES",
    "RULE_CHECKS",
    "Evaluation",
    "RuleConfigError",
    "RuleEnv",
    "evaluate_rules",
]
