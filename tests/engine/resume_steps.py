"""Test-only steps for resume tests: one counts its executions, one fails until fixed.

Workers import this module through ``PORTAL_EXTRA_STEP_MODULES``; the counts are files in
the programme's own folder, so the test sees how often a step really ran.
"""

from __future__ import annotations

from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult
from portal.services.pipeline_spec import register_step_type

for _name in ("test.count_runs", "test.fail_until_fixed"):
    register_step_type(_name, {"type": "object"}, f"test step {_name}")


def _count(ctx: StepContext) -> None:
    ctx.data_root.mkdir(parents=True, exist_ok=True)
    with (ctx.data_root / f"ran-{ctx.step_key}").open("a") as handle:
        handle.write(f"{ctx.run_uuid}\n")


@register("test.count_runs")
def count_runs(ctx: StepContext) -> StepResult:
    """Record that it ran; pass the tables through."""
    _count(ctx)
    ctx.log("counted")
    return StepResult(rows_in=ctx.table().height, rows_out=ctx.table().height)


@register("test.fail_until_fixed")
def fail_until_fixed(ctx: StepContext) -> StepResult:
    """Fail until the file ``fixed`` exists in the programme's folder."""
    _count(ctx)
    if not (ctx.data_root / "fixed").exists():
        raise StepError("the upstream service is down")
    return StepResult()
