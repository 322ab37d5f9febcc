"""Test-only step types, importable by worker subprocesses.

Workers import this module through ``PORTAL_EXTRA_STEP_MODULES=tests.engine.steps``;
the test process imports it directly. Each step is declared to the pipeline schema
(``register_step_type``) and bound in the step registry.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult, TransientStepError
from portal.services.pipeline_spec import register_step_type

ANY_PARAMS = {"type": "object"}
TYPES = ("ingest.test_table", "test.noop", "test.sleep", "test.fail", "test.crash",
         "test.block", "test.flaky", "compute.test_noop", "publish.test_marker",
         "validate.test_rules", "test.pid", "test.shared_seen")
for _name in TYPES:
    register_step_type(_name, ANY_PARAMS, f"test step {_name}")


@register("ingest.test_table")
def ingest_table(ctx: StepContext) -> StepResult:
    """Produce a small table named ``params.as`` (default ``data``)."""
    rows = int(ctx.params.get("rows", 3))
    frame = pl.DataFrame({"id": list(range(rows))})
    ctx.lineage["inputs"].append({"uri": f"test://{ctx.step_key}", "sha256": "0" * 64,
                                  "bytes": 0, "rows": rows, "step": ctx.step_key})
    return StepResult(rows_in=rows, rows_out=rows, tables={ctx.params.get("as", "data"): frame},
                      output_fingerprint="f" * 64)


@register("test.noop")
def noop(ctx: StepContext) -> StepResult:
    """Do nothing, successfully."""
    return StepResult()


@register("test.pid")
def pid(ctx: StepContext) -> StepResult:
    """Say which process ran the step (the work horse)."""
    import os

    return StepResult(details={"pid": os.getpid()})


@register("test.shared_seen")
def shared_seen(ctx: StepContext) -> StepResult:
    """Say which shared folders the step was given (names and folders)."""
    return StepResult(details={"shared_folders": {name: str(folder) for name, folder
                                                  in sorted(ctx.shared_folders.items())}})


@register("compute.test_noop")
def compute_noop(ctx: StepContext) -> StepResult:
    """A compute-stage no-op that reads the primary table."""
    return StepResult(rows_in=ctx.table().height, rows_out=1)


@register("test.sleep")
def sleep(ctx: StepContext) -> StepResult:
    """Sleep ``params.seconds``, leaving a marker file that says the step started."""
    (ctx.work_dir / f"started-{ctx.step_key}").write_text("started")
    deadline = time.monotonic() + float(ctx.params.get("seconds", 1))
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return StepResult()


@register("test.fail")
def fail(ctx: StepContext) -> StepResult:
    """Raise a StepError with ``params.message``."""
    raise StepError(ctx.params.get("message", "the source is unreadable"))


@register("test.crash")
def crash(ctx: StepContext) -> StepResult:
    """A step bug."""
    raise ZeroDivisionError("division by zero in a step")


@register("test.block")
def block(ctx: StepContext) -> StepResult:
    """A data-quality gate that refuses."""
    return StepResult(status="blocked", message="3 rows failed rule no-nulls")


@register("test.flaky")
def flaky(ctx: StepContext) -> StepResult:
    """Fail transiently ``params.fail_times`` times, then succeed."""
    counter = ctx.work_dir / f"attempts-{ctx.step_key}"
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    if attempts <= int(ctx.params.get("fail_times", 1)):
        raise TransientStepError(f"network hiccup #{attempts}")
    ctx.log(f"succeeded on attempt {attempts}")
    return StepResult()


@register("publish.test_marker")
def publish_marker(ctx: StepContext) -> StepResult:
    """Write ``publish_root/<code>/release.txt`` unless this is a dry run."""
    if ctx.dry_run:
        ctx.log("dry run: nothing published")
        return StepResult()
    target = Path(ctx.publish_root) / ctx.programme_code
    target.mkdir(parents=True, exist_ok=True)
    (target / "release.txt").write_text(ctx.run_uuid)
    ctx.lineage["release"] = {"version": "1.0.0", "files": []}
    return StepResult(rows_out=1)


@register("validate.test_rules")
def validate_rules(ctx: StepContext) -> StepResult:
    """Report one failing rule; blocked when ``params.block``."""
    result = {"id": "no-nulls", "type": "not_null", "severity": "error", "passed": False,
              "failing_rows": 2, "fraction": 0.5, "sample": [1, 2],
              "message": "2 rows have no value"}
    status = "blocked" if ctx.params.get("block") else "succeeded"
    return StepResult(status=status, details={"rules": [result]},
                      message="rule no-nulls failed" if status == "blocked" else None)


def pipeline(*steps: tuple[str, str] | tuple[str, str, dict]) -> dict:
    """Build a pipeline definition from ``(key, type[, extra])`` tuples."""
    built = []
    for item in steps:
        key, type_name = item[0], item[1]
        extra = item[2] if len(item) > 2 else {}
        built.append({"key": key, "type": type_name, **extra})
    return {"steps": built}
