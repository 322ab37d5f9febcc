"""Pipeline steps: plain functions ``step(ctx) -> StepResult`` (see ``base``)."""
