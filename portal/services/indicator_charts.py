"""Index charts of a run, and of a programme's latest release, ready for a page.

The ``compute.trim`` and ``compute.msi`` steps keep chart data in their step details
(``details["charts"]``, see ``jobs.indicators.chart_specs``); this module turns it
into SVG (:mod:`portal.services.charts`). A programme's latest release is its newest
version that is not withdrawn, published by a run directly or by a reviewer approving
the run's candidate: its charts are drawn from that run's step details, so the page
never reads release files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeRun
from portal.services.charts import index_chart, verdict_tone

CHART_STEP_TYPES = ("compute.trim", "compute.msi")
#: Published runs looked at for the latest release (newest first).
RECENT_RUNS = 10


@dataclass
class Chart:
    """One drawn chart: its title, verdict (and its tone for CSS) and SVG markup."""

    title: str
    verdict: str | None
    tone: str
    svg: Markup


@dataclass
class ChartGroup:
    """The charts of one step."""

    step_key: str
    kind: str
    charts: list[Chart] = field(default_factory=list)
    omitted: int = 0


def run_charts(run: MonitoringProgrammeRun | None) -> list[ChartGroup]:
    """The index charts of a run's TRIM and MSI steps, MSI first (empty when none)."""
    if run is None:
        return []
    groups = []
    for step in run.steps:
        details = step.details_json or {}
        if step.step_type not in CHART_STEP_TYPES or not details.get("charts"):
            continue
        kind = "msi" if step.step_type == "compute.msi" else "trim"
        groups.append(ChartGroup(
            step.step_key, kind,
            [Chart(str(spec.get("title") or ""), spec.get("verdict"),
                   verdict_tone(spec.get("verdict")), Markup(index_chart(spec)))
             for spec in details["charts"] if isinstance(spec, dict)],
            int(details.get("charts_omitted") or 0)))
    return sorted(groups, key=lambda group: group.kind != "msi")


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (-1,)


def latest_release(programme: MonitoringProgramme) -> tuple[str, MonitoringProgrammeRun] | None:
    """``(version, run)`` of the programme's newest release that is not withdrawn.

    A release is published either by a run itself (no review: the run ``succeeded`` and
    its lineage records the version) or by a reviewer approving a run's candidate (the
    run ended ``awaiting_review``; the approved candidate records the version).
    """
    from portal.models import ReleaseCandidate, ReleaseWithdrawal

    found: list[tuple[str, int]] = []  # (version, run id)
    direct = db.session.execute(
        select(MonitoringProgrammeRun.id, MonitoringProgrammeRun.lineage_json)
        .where(MonitoringProgrammeRun.programme_id == programme.id,
               MonitoringProgrammeRun.status == "succeeded",
               MonitoringProgrammeRun.dry_run.is_(False))
        .order_by(MonitoringProgrammeRun.finished_at.desc().nulls_last(),
                  MonitoringProgrammeRun.id.desc())
        .limit(RECENT_RUNS))
    for run_id, lineage in direct:
        version = str(((lineage or {}).get("release") or {}).get("version") or "")
        if version:
            found.append((version, run_id))
    approved = db.session.execute(
        select(ReleaseCandidate.version, ReleaseCandidate.run_id)
        .where(ReleaseCandidate.programme_id == programme.id,
               ReleaseCandidate.status == "approved", ReleaseCandidate.version.is_not(None),
               ReleaseCandidate.run_id.is_not(None))
        .order_by(ReleaseCandidate.decided_at.desc(), ReleaseCandidate.id.desc())
        .limit(RECENT_RUNS))
    found.extend((str(version), run_id) for version, run_id in approved)
    if not found:  # most programme pages: no release, two small indexed reads
        return None
    withdrawn = set(db.session.scalars(select(ReleaseWithdrawal.version)
                                       .where(ReleaseWithdrawal.programme_id == programme.id)))
    live = [item for item in found if item[0] not in withdrawn]
    if not live:
        return None
    version, run_id = max(live, key=lambda item: _version_key(item[0]))
    run = db.session.get(MonitoringProgrammeRun, run_id)
    return (version, run) if run is not None else None


def release_charts(programme: MonitoringProgramme, published: Sequence[Any] | None = None,
                   ) -> tuple[str | None, list[ChartGroup]]:
    """``(version, charts)`` of the programme's latest release ((None, []) when none).

    ``published``: the release folders the page already listed (``releases.list_releases``),
    when it did; none on disk means no release to chart, so nothing is read.
    """
    if published is not None and not published:
        return None, []
    latest = latest_release(programme)
    if latest is None:
        return None, []
    return latest[0], run_charts(latest[1])
