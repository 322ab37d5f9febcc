"""Fixtures for step tests: a private DATA_ROOT holding copies of the real data, and contexts."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepContext

# The runs' reference time: fixed, so "future" and "freshness" do not drift.
RUN_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

SNAILS = "snails/occurrence.csv"
ANTS = "ants/Portal_ant_colony.csv"
ANT_SPECIES = "ants/Portal_ant_species.csv"

MakeContext = Callable[..., StepContext]


@pytest.fixture
def data_root(tmp_path: Path, shared_data: Path) -> Path:
    """A DATA_ROOT with the snail occurrences and the Portal ant files (copies)."""
    root = tmp_path / "data"
    (root / "snails").mkdir(parents=True)
    (root / "ants").mkdir()
    shutil.copy(shared_data / "landsnails-gran-canaria" / "occurrence.csv", root / SNAILS)
    for name in ("Portal_ant_colony.csv", "Portal_ant_species.csv", "Portal_ant_dataflags.csv"):
        shutil.copy(shared_data / "portal-ants" / name, root / "ants" / name)
    return root


@pytest.fixture
def make_ctx(tmp_path: Path, data_root: Path) -> MakeContext:
    """Build a StepContext on the private roots; keyword arguments override fields."""

    def make(
        params: dict[str, Any] | None = None,
        rules: list[dict[str, Any]] | None = None,
        tables: dict[str, pl.DataFrame] | None = None,
        **fields: Any,
    ) -> StepContext:
        values: dict[str, Any] = {
            "run_uuid": "run-test",
            "programme_code": "TEST",
            "step_key": "step",
            "data_root": data_root,
            "publish_root": tmp_path / "publish",
            "work_dir": tmp_path / "work",
            "store_root": tmp_path / "store",
            "now": RUN_NOW,
        }
        values.update(fields)
        return StepContext(
            params=params or {}, rules=rules or [], tables=dict(tables or {}), **values
        )

    return make


@pytest.fixture
def snails(make_ctx: MakeContext) -> pl.DataFrame:
    """The snail occurrence table as the Darwin Core ingest produces it."""
    return get_step("ingest.darwin_core")(make_ctx({"source": SNAILS})).tables["data"]


@pytest.fixture
def ants(make_ctx: MakeContext) -> pl.DataFrame:
    """The Portal ant census as the CSV ingest produces it, with an ISO eventDate."""
    params = {
        "source": ANTS,
        "mapping": {"date_from": {"day": "day", "month": "month", "year": "year"}},
    }
    return get_step("ingest.csv")(make_ctx(params)).tables["data"]
