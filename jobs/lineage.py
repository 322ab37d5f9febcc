"""Lineage records (invariant 8) and their export as OpenLineage events.

``build_lineage`` turns what a run did into the JSON the portal stores on the run:
every input's sha256, the sha256 of the canonical pipeline definition and rule set,
the code version, each step's counts and fingerprints, the outputs and the release.
``openlineage_events`` renders a stored record as OpenLineage 2-0-2 RunEvents and
``post_openlineage`` sends them to a collector.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

LINEAGE_FORMAT = "programme-ops.lineage/1"
# Override per run with run_info["producer"] (e.g. the repository URL at the code version).
PRODUCER = "https://programme-ops.invalid/jobs/lineage"
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
INGEST_DEFAULT_TABLE = "data"  # jobs.steps.ingest.DEFAULT_TABLE (not imported: no connectors here)
TERMINAL_EVENTS = {
    "succeeded": "COMPLETE",
    "failed": "FAIL",
    "blocked": "FAIL",
    "cancelled": "ABORT",
}
STEP_FIELDS = (
    "status",
    "rows_in",
    "rows_out",
    "rows_rejected",
    "input_fingerprint",
    "output_fingerprint",
)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, compact separators and UTF-8 text (no ASCII escapes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_sha256(obj: Any) -> str:
    """The sha256 of ``obj``'s canonical JSON: equal documents give equal hashes."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _rule_list(rules: Any) -> list[Mapping[str, Any]]:
    if isinstance(rules, Mapping):
        return list(rules.get("rules", []))
    return list(rules or [])


def _rule_column(rule: Mapping[str, Any]) -> str | None:
    if rule.get("column"):
        return str(rule["column"])
    columns = rule.get("columns") or []
    return str(columns[0]) if len(columns) == 1 else None


def _input_table(
    entry: Mapping[str, Any], types: Mapping[str, Any], params: Mapping[str, Any]
) -> str | None:
    """The table an input became: its own ``table``, else its ingest step's ``as``."""
    if entry.get("table"):
        return str(entry["table"])
    step = entry.get("step")
    if entry.get("rows") is None or not str(types.get(step)).startswith("ingest."):
        return None  # a package descriptor, or a vocabulary read by a rule
    return params[step].get("as") or INGEST_DEFAULT_TABLE


def build_lineage(
    definition: Mapping[str, Any],
    rules: Any,
    code_version: str,
    steps: Iterable[Any],
    lineage: Mapping[str, Any],
) -> dict[str, Any]:
    """Build the stored lineage record of a run.

    Args:
        definition: the pipeline definition the run used.
        rules: the rule set (``{"rules": [...]}``) or the rule list the run used.
        code_version: the code version (e.g. a git commit) that ran.
        steps: in order, mappings or objects with ``key`` and optionally ``type``,
            ``status``, ``rows_in``, ``rows_out``, ``rows_rejected``,
            ``input_fingerprint``, ``output_fingerprint`` and ``details`` (a validate
            step's ``details["rules"]`` become the quality assertions).
        lineage: ``ctx.lineage`` at the end of the run (inputs, outputs, release).

    Returns:
        A JSON-serialisable dict (see the keys below; ``release_version`` is None when
        nothing was published).
    """
    types = {step.get("key"): step.get("type") for step in definition.get("steps", [])}
    params = {step.get("key"): step.get("params") or {} for step in definition.get("steps", [])}
    rule_by_id = {rule.get("id"): rule for rule in _rule_list(rules)}
    ingests = [key for key, kind in types.items() if str(kind).startswith("ingest.")]
    primary = (params[ingests[0]].get("as") or INGEST_DEFAULT_TABLE) if ingests else None
    step_records: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    for step in steps:
        key = _get(step, "key")
        record = {"key": key, "type": _get(step, "type") or types.get(key)}
        record.update({name: _get(step, name) for name in STEP_FIELDS})
        step_records.append(record)
        details = _get(step, "details") or {}
        for result in details.get("rules", []) if isinstance(details, Mapping) else []:
            rule = rule_by_id.get(result.get("id"), {})
            quality.append(
                {
                    "rule": result.get("id"),
                    "type": result.get("type") or rule.get("type"),
                    "severity": result.get("severity") or rule.get("severity"),
                    "passed": bool(result.get("passed")),
                    "column": _rule_column(rule),
                    "step": key,
                    "table": details.get("table") or params.get(key, {}).get("table") or primary,
                }
            )
    inputs = [
        {name: entry.get(name) for name in ("uri", "sha256", "bytes", "rows", "step")}
        | {"table": _input_table(entry, types, params)}
        for entry in lineage.get("inputs", [])
    ]
    release = lineage.get("release")
    return {
        "format": LINEAGE_FORMAT,
        "code_version": code_version,
        "definition_sha256": canonical_sha256(definition),
        "rules_sha256": canonical_sha256(rules),
        "inputs": inputs,
        "steps": step_records,
        "quality": quality,
        "outputs": [dict(entry) for entry in lineage.get("outputs", [])],
        "release": dict(release) if release else None,
        "release_version": release.get("version") if release else None,
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
