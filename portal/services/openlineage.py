"""OpenLineage 2-0-2 RunEvents for a run: the download on the run page, and the events
the worker POSTs to ``OPENLINEAGE_URL`` when a run ends (one implementation for both).

``openlineage_events`` renders a stored lineage record as a START event and, for a
finished run, a COMPLETE (succeeded), FAIL (failed or blocked) or ABORT (cancelled)
event, with ``dataQualityAssertions`` input facets and ``outputStatistics`` output
facets; ``post_openlineage`` sends them to a collector.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from portal.models import MonitoringProgrammeRun

# Override per run with run_info["producer"] (e.g. the repository URL at the code version).
PRODUCER = "https://programme-ops.invalid/"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets"
SCHEMAS = {
    "dataQualityAssertions": f"{FACETS}/1-0-1/DataQualityAssertionsDatasetFacet.json"
    "#/$defs/DataQualityAssertionsDatasetFacet",
    "outputStatistics": f"{FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet",
    "errorMessage": f"{FACETS}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "version": f"{FACETS}/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
}
NAMESPACE = "programme-ops"
TERMINAL_EVENTS = {
    "succeeded": "COMPLETE",
    "failed": "FAIL",
    "blocked": "FAIL",
    "cancelled": "ABORT",
}


def _time(value: Any) -> str:
    if value is None:
        value = datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the database stores UTC without a zone
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    return str(value)


def _facet(kind: str, producer: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": SCHEMAS[kind], **fields}


def _dataset_id(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme and parts.netloc:
        name = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{parts.scheme}://{parts.netloc}", name or "/"
    return "file", uri


def _checked(
    item: Mapping[str, Any], entry: Mapping[str, Any], fallback: bool, tables: set
) -> bool:
    """Whether a quality result is about this input: its table, else the fallback input."""
    table = item.get("table")
    if table and table in tables:
        return table == entry.get("table")
    return fallback


def _input_datasets(lineage: Mapping[str, Any], producer: str, final: bool) -> list[dict[str, Any]]:
    datasets = []
    quality = lineage.get("quality") or []
    inputs = lineage.get("inputs") or []
    tables = {entry.get("table") for entry in inputs}
    # Results about an unknown table go to the first input that became a table.
    fallback = next((i for i, entry in enumerate(inputs) if entry.get("table")), 0)
    for index, entry in enumerate(inputs):
        namespace, name = _dataset_id(str(entry.get("uri")))
        dataset: dict[str, Any] = {"namespace": namespace, "name": name, "facets": {}}
        if entry.get("sha256"):
            dataset["facets"]["version"] = _facet(
                "version", producer, datasetVersion=entry["sha256"]
            )
        mine = [item for item in quality if _checked(item, entry, index == fallback, tables)]
        if final and mine:
            assertions = [
                {"assertion": item["rule"], "success": item["passed"]}
                | ({"column": item["column"]} if item.get("column") else {})
                for item in mine
            ]
            dataset["inputFacets"] = {
                "dataQualityAssertions": _facet(
                    "dataQualityAssertions", producer, assertions=assertions
                )
            }
        datasets.append(dataset)
    return datasets


def _output_datasets(
    run_info: Mapping[str, Any], lineage: Mapping[str, Any], producer: str
) -> list[dict[str, Any]]:
    release = lineage.get("release")
    if release and not release.get("unchanged"):
        entries = [
            (
                f"{release['path']}/{item['path']}",
                item.get("rows"),
                item.get("bytes"),
                item.get("sha256"),
            )
            for item in release.get("files", [])
        ]
        namespace = "file"
    else:
        code = run_info.get("programme_code") or run_info.get("code")
        entries = [
            (f"{code}.{item['table']}", item.get("rows"), None, item.get("sha256"))
            for item in lineage.get("outputs", [])
        ]
        namespace = NAMESPACE
    datasets = []
    for name, rows, size, digest in entries:
        statistics = {"rowCount": rows} | ({"size": size} if size is not None else {})
        facets = {"version": _facet("version", producer, datasetVersion=digest)} if digest else {}
        datasets.append(
            {
                "namespace": namespace,
                "name": name,
                "facets": facets,
                "outputFacets": {
                    "outputStatistics": _facet("outputStatistics", producer, **statistics)
                },
            }
        )
    return datasets


def openlineage_events(
    run_info: Mapping[str, Any], lineage: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Render a run as OpenLineage RunEvents: START, then COMPLETE / FAIL / ABORT.

    Args:
        run_info: plain values from the run row: ``uuid``, ``programme_code``,
            ``run_type``, ``status``, ``started_at``, ``finished_at``,
            ``error_message`` (optionally ``producer``).
        lineage: a record from :func:`build_lineage`.

    Returns:
        The events, oldest first; a run still queued or running has only its START.
    """
    producer = str(run_info.get("producer") or PRODUCER)
    code = run_info.get("programme_code") or run_info.get("code")
    job = {
        "namespace": NAMESPACE,
        "name": f"{code}.{run_info.get('run_type') or 'run'}",
        "facets": {},
    }

    def event(event_type: str, when: Any, final: bool) -> dict[str, Any]:
        run: dict[str, Any] = {"runId": str(run_info["uuid"]), "facets": {}}
        message = run_info.get("error_message")
        if final and event_type in {"FAIL", "ABORT"} and message:
            run["facets"]["errorMessage"] = _facet(
                "errorMessage", producer, message=str(message), programmingLanguage="python"
            )
        return {
            "eventType": event_type,
            "eventTime": _time(when),
            "run": run,
            "job": dict(job),
            "inputs": _input_datasets(lineage, producer, final),
            "outputs": _output_datasets(run_info, lineage, producer) if final else [],
            "producer": producer,
            "schemaURL": RUN_EVENT_SCHEMA,
        }

    events = [event("START", run_info.get("started_at"), final=False)]
    terminal = TERMINAL_EVENTS.get(str(run_info.get("status")))
    if terminal:
        events.append(event(terminal, run_info.get("finished_at"), final=True))
    return events


class OpenLineageError(RuntimeError):
    """The collector refused an event or could not be reached."""


def post_openlineage(
    events: Iterable[Mapping[str, Any]],
    url: str,
    timeout: float = 10.0,
    *,
    api_key: str | None = None,
) -> list[int]:
    """POST each event as JSON to an OpenLineage collector (e.g. ``…/api/v1/lineage``).

    Args:
        events: events from :func:`openlineage_events`, sent in order.
        url: the collector's endpoint; only http and https are allowed.
        timeout: seconds per request.
        api_key: sent as a bearer token when given.

    Returns:
        The HTTP status of each request.

    Raises:
        OpenLineageError: a request failed or answered outside 2xx.
    """
    if urlsplit(url).scheme not in {"http", "https"}:
        raise OpenLineageError(f"OpenLineage URL must be http or https: {url!r}")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    statuses = []
    for item in events:
        body = json.dumps(item, default=str).encode()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                statuses.append(response.status)
        except urllib.error.HTTPError as exc:
            raise OpenLineageError(
                f"collector answered {exc.code} for {item.get('eventType')}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise OpenLineageError(f"cannot reach the collector: {exc}") from exc
    return statuses


def run_values(run: MonitoringProgrammeRun) -> dict[str, Any]:
    """The plain values of a run row that ``openlineage_events`` needs."""
    return {"uuid": run.uuid, "programme_code": run.programme.code, "run_type": run.run_type,
            "status": run.status, "started_at": run.started_at or run.queued_at,
            "finished_at": run.finished_at, "error_message": run.error_message}


def run_events(run: MonitoringProgrammeRun) -> list[dict[str, Any]]:
    """The run's OpenLineage RunEvents, oldest first (START, then the final event)."""
    return openlineage_events(run_values(run), run.lineage_json or {})
