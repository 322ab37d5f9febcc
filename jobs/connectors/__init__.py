"""Connectors: read a source's bytes and turn them into an all-string polars frame.

- ``sources``: paths inside DATA_ROOT, the content-addressed store, replay, lineage.
- ``delimited``: CSV/TSV parsing (ragged rows and bad bytes are clear errors).
- ``darwin_core``: term names and the Darwin Core table check.
- ``dwca``: Darwin Core Archives (meta.xml, core and extensions).
- ``frictionless``: Frictionless data packages.
- ``http``: allow-listed HTTP(S) fetches with a size cap and a bearer token.
- ``records``: JSON records to a frame.
- ``mapping``: renames and a date built from day/month/year.
- ``zipped``: zip archives through ``portal.services.safezip`` (limits, counted inflating).

The ``ingest.*`` steps in ``jobs.steps.ingest`` put these together.
"""
