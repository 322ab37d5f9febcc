"""Index charts of a run, and of a programme's latest release, ready for a page.

The ``compute.trim`` and ``compute.msi`` steps keep chart data in their step details
(``details["charts"]``, see ``jobs.indicators.chart_specs``); this module turns it
into SVG (:mod:`portal.services.charts`). A programme's latest release is the newest
published (not dry) run's: its charts are drawn from the same step details, so the
page never reads release files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def latest_release_run(programme: MonitoringProgramme) -> MonitoringProgrammeRun | None:
    """The newest succeeded, non-dry run of ``programme`` that recorded a release."""
    runs = db.session.scalars(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.programme_id == programme.id,
               MonitoringProgrammeRun.status == "succeeded",
               MonitoringProgrammeRun.dry_run.is_(False))
        .order_by(MonitoringProgrammeRun.finished_at.desc().nulls_last(),
                  MonitoringProgrammeRun.id.desc())
        .limit(RECENT_RUNS))
    return next((run for run in runs if (run.lineage_json or {}).get("release")), None)


def release_charts(programme: MonitoringProgramme) -> tuple[str | None, list[ChartGroup]]:
    """``(version, charts)`` of the programme's latest release ((None, []) when none)."""
    run = latest_release_run(programme)
    if run is None:
        return None, []
    return str(run.lineage_json["release"].get("version") or ""), run_charts(run)
