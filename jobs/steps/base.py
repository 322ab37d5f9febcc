"""The contract between the pipeline runner and the steps.

A step is a plain function ``step(ctx: StepContext) -> StepResult``. It imports
neither Flask nor RQ and never touches the database: the runner records what the
step returns. Steps communicate through ``ctx.tables`` (polars DataFrames keyed by
name) and ``ctx.lineage`` (a dict the runner stores as the run's lineage record).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from portal.services.safezip import ZipLimits

StepStatus = Literal["succeeded", "blocked", "failed"]


class StepError(Exception):
    """A step cannot proceed; the message is shown on the step and the run."""


class TransientStepError(StepError):
    """A step failed for a reason that may pass (network, lock); the runner retries it."""


@dataclass
class StepContext:
    """Everything a step may use. Built by the runner for each step.

    Attributes:
        run_uuid: the run's uuid (string).
        programme_code: the programme's code, e.g. ``"SNAILS"``.
        step_key: this step's key in the pipeline definition.
        params: this step's ``params`` from the pipeline definition (already schema-valid).
        rules: the programme's rule list (``data_quality_rules_json["rules"]``).
        data_root: the programme's namespace ``DATA_ROOT/<CODE>``: a source is a path
            relative to it, and every file a step reads must resolve inside it (or inside
            a granted shared folder).
        publish_root: PUBLISH_ROOT; releases go to ``publish_root/<code>/<version>/``.
        work_dir: a per-run scratch folder (rejection report, intermediate files).
        store_root: content-addressed store of raw inputs (``<sha256[:2]>/<sha256>``) for replay.
        dry_run: when true nothing is published and no alert is opened.
        now: the run's reference time (UTC, aware) — freshness and future-date rules use it.
        tables: named DataFrames produced by earlier steps; a step adds its outputs here
            through ``StepResult.tables``.
        primary_table: name of the table that ingest produced first ("the data").
        lineage: the run's lineage record under construction: ``inputs`` and ``outputs``
            lists, ``release`` dict; steps append to it.
        http_allowlist: hosts an HTTP connector may reach.
        credentials: the deployment's declared credentials, name ->
            ``portal.credentials.Credential`` (a step names one; its token is read at use).
        zip_limits: what a zip archive may contain (the ``ZIP_*`` settings).
        replay_inputs: during replay, source URI -> local path of the recorded bytes.
        shared_folders: the shared folders granted to the programme, name -> folder;
            ``shared:<name>/<path>`` sources resolve only through it.
        programme_licence: the programme's release licence (SPDX id, or URL and title),
            or None; ``publish.release`` uses it unless its params name one.
        review_required: the programme publishes only after a reviewer's sign-off, so
            ``publish.release`` stages a candidate (``jobs.candidate``), taking no version.
        log: append a line to this step's log excerpt.
    """

    run_uuid: str
    programme_code: str
    step_key: str
    params: dict[str, Any]
    rules: list[dict[str, Any]]
    data_root: Path
    publish_root: Path
    work_dir: Path
    store_root: Path
    dry_run: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    primary_table: str | None = None
    lineage: dict[str, Any] = field(
        default_factory=lambda: {"inputs": [], "outputs": [], "release": None}
    )
    http_allowlist: list[str] = field(default_factory=list)
    credentials: dict[str, Any] = field(default_factory=dict)
    zip_limits: ZipLimits = field(default_factory=ZipLimits)
    replay_inputs: dict[str, Path] | None = None
    shared_folders: dict[str, Path] = field(default_factory=dict)
    programme_licence: str | None = None
    # The programme's sign-off gate: publish.release stages a candidate instead.
    review_required: bool = False
    log_lines: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Append one line to the step's log excerpt."""
        self.log_lines.append(message)

    def table(self, name: str | None = None) -> pl.DataFrame:
        """Return the named table, or the primary one; raise StepError when absent."""
        key = name or self.primary_table
        if key is None or key not in self.tables:
            raise StepError(f"no table named {key!r}: run an ingest step first")
        return self.tables[key]


@dataclass
class StepResult:
    """What a step reports back to the runner.

    Attributes:
        status: succeeded, blocked (a data-quality gate failed) or failed.
        rows_in / rows_out / rows_rejected: row counts shown on the timeline.
        details: JSON-serialisable facts shown on the run page. The validate step puts
            its per-rule results under ``details["rules"]`` as a list of dicts with keys
            ``id, type, severity, passed, failing_rows, fraction, sample, message`` —
            the runner opens/resolves alerts from it (not in dry runs).
        message: the reason when blocked or failed (shown on the step and the run).
        tables: DataFrames to add to ``ctx.tables`` for later steps.
        input_fingerprint / output_fingerprint: sha256 of what the step read / produced.
        files: files written into ``ctx.work_dir`` worth keeping (e.g. the rejection report).
    """

    status: StepStatus = "succeeded"
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    input_fingerprint: str | None = None
    output_fingerprint: str | None = None
    files: dict[str, str] = field(default_factory=dict)


StepFunc = Callable[[StepContext], StepResult]


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


#: Rows hashed per slice: the row hashes of one slice (8 bytes a row) are all that is held.
FINGERPRINT_SLICE_ROWS = 1 << 22

_FINGERPRINTS: dict[int, tuple[weakref.ref, str]] = {}

#: How table fingerprints are made; recorded in every run's lineage
#: (``fingerprint_scheme``) so a replay compares like with like.
FINGERPRINT_SCHEME = "rows-v2"
#: Runs recorded before the lineage named a scheme: the sha256 of the table's CSV text.
LEGACY_FINGERPRINT_SCHEME = "csv-v1"
_SCHEME: ContextVar[str] = ContextVar("fingerprint_scheme", default=FINGERPRINT_SCHEME)


@contextmanager
def fingerprint_scheme(scheme: str) -> Iterator[None]:
    """Make table fingerprints the way ``scheme`` did (a replay of an older run)."""
    if scheme not in (FINGERPRINT_SCHEME, LEGACY_FINGERPRINT_SCHEME):
        raise ValueError(f"unknown fingerprint scheme {scheme!r}")
    token = _SCHEME.set(scheme)
    try:
        yield
    finally:
        _SCHEME.reset(token)


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """Return a sha256 of a table's schema, rows (in order) and height.

    Equal tables give equal fingerprints, and tables that differ in a value, a null,
    a column name or type, or the order of rows differ. The rows are read through
    polars' own row hash (``hash_rows(seed=0)``: stable for one polars version, so a
    polars upgrade changes fingerprints, as a code change may) folded into the sha256,
    so the table is never written out as text. A frame is hashed once: a later call on
    the same (immutable) frame returns the recorded fingerprint.
    """
    if _SCHEME.get() == LEGACY_FINGERPRINT_SCHEME:
        return sha256_bytes(frame.write_csv().encode())
    cached = _FINGERPRINTS.get(id(frame))
    if cached is not None and cached[0]() is frame:
        return cached[1]
    fingerprint = fold_fingerprint(
        frame.schema,
        (frame.slice(offset, FINGERPRINT_SLICE_ROWS)
         for offset in range(0, frame.height, FINGERPRINT_SLICE_ROWS)),
    )
    key = id(frame)
    _FINGERPRINTS[key] = (weakref.ref(frame, lambda _: _FINGERPRINTS.pop(key, None)),
                          fingerprint)
    return fingerprint


def fold_fingerprint(schema: Any, batches: Any) -> str:
    """The fingerprint of a table given as consecutive row batches (see frame_fingerprint).

    Batch boundaries do not matter: a table read in batches (a lazy, streamed table)
    has the fingerprint of the same table held whole.
    """
    digest = hashlib.sha256(repr(list(schema.items())).encode())
    height = 0
    for batch in batches:
        height += batch.height
        if batch.width and batch.height:
            digest.update(batch.hash_rows(seed=0).to_numpy().tobytes())
    digest.update(f"|{height}|".encode())
    return digest.hexdigest()
