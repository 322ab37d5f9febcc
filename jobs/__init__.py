"""What workers run: tasks (take ids), the pipeline runner, the step registry and the steps."""
