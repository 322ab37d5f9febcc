"""OpenLineage 2-0-2 RunEvents for a run's download (the portal never imports ``jobs``).

Built from the run row and its stored ``lineage_json``: a START event and, for a
finished run, a COMPLETE (succeeded), FAIL (failed or blocked) or ABORT (cancelled)
event with the inputs (sha256 as dataset version), the outputs or the release files
and any error message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from portal.models import MonitoringProgrammeRun

PRODUCER = "https://programme-ops.invalid/portal"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets"
VERSION_FACET = f"{FACETS}/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
ERROR_FACET = f"{FACETS}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
STATS_FACET = (f"{FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json"
               "#/$defs/OutputStatisticsOutputDatasetFacet")
NAMESPACE = "programme-ops"
TERMINAL = {"succeeded": "COMPLETE", "failed": "FAIL", "blocked": "FAIL", "cancelled": "ABORT"}


def _time(value: datetime | None) -> str:
    return (value or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dataset_id(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}", parts.path or "/"
    return "file", uri


def _version(digest: str | None) -> dict[str, Any]:
    if not digest:
        return {}
    return {"version": {"_producer": PRODUCER, "_schemaURL": VERSION_FACET,
                        "datasetVersion": digest}}


def _inputs(lineage: dict[str, Any]) -> list[dict[str, Any]]:
    datasets = []
    for entry in lineage.get("inputs") or []:
        namespace, name = _dataset_id(str(entry.get("uri")))
        datasets.append({"namespace": namespace, "name": name,
                         "facets": _version(entry.get("sha256"))})
    return datasets


def _outputs(code: str, lineage: dict[str, Any]) -> list[dict[str, Any]]:
    release = lineage.get("release") or {}
    if release.get("files") and not release.get("unchanged"):
        entries = [("file", f"{release.get('path')}/{item.get('path')}", item.get("rows"),
                    item.get("sha256")) for item in release["files"]]
    else:
        entries = [(NAMESPACE, f"{code}.{item.get('table') or item.get('uri') or 'output'}",
                    item.get("rows"), item.get("sha256"))
                   for item in lineage.get("outputs") or []]
    datasets = []
    for namespace, name, rows, digest in entries:
        dataset: dict[str, Any] = {"namespace": namespace, "name": name,
                                   "facets": _version(digest)}
        if rows is not None:
            dataset["outputFacets"] = {"outputStatistics": {
                "_producer": PRODUCER, "_schemaURL": STATS_FACET, "rowCount": rows}}
        datasets.append(dataset)
    return datasets


def run_events(run: MonitoringProgrammeRun) -> list[dict[str, Any]]:
    """Return the run's OpenLineage RunEvents, oldest first.

    Args:
        run: a run with its programme loaded.

    Returns:
        ``[START]`` for a run not finished, ``[START, COMPLETE|FAIL|ABORT]`` otherwise.
    """
    lineage = run.lineage_json or {}
    code = run.programme.code
    job = {"namespace": NAMESPACE, "name": f"{code}.{run.run_type}", "facets": {}}

    def event(event_type: str, when: datetime | None, final: bool) -> dict[str, Any]:
        facets: dict[str, Any] = {}
        if final and event_type != "COMPLETE" and run.error_message:
            facets["errorMessage"] = {"_producer": PRODUCER, "_schemaURL": ERROR_FACET,
                                      "message": run.error_message,
                                      "programmingLanguage": "python"}
        return {"eventType": event_type, "eventTime": _time(when),
                "run": {"runId": run.uuid, "facets": facets}, "job": dict(job),
                "inputs": _inputs(lineage), "outputs": _outputs(code, lineage) if final else [],
                "producer": PRODUCER, "schemaURL": RUN_EVENT_SCHEMA}

    events = [event("START", run.started_at or run.queued_at, final=False)]
    if run.status in TERMINAL:
        events.append(event(TERMINAL[run.status], run.finished_at, final=True))
    return events
