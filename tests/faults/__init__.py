"""Fault-injection tests: the system under load, with dependencies failing."""
