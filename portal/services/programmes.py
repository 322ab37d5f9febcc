"""Reading programmes for the portal (scoped by the access rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.access import visible_programmes
from portal.extensions import db
from portal.models import (
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    MonitoringProgrammeSteward,
)


@dataclass
class Page:
    """One page of results."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """The number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def list_programmes(user: Any, *, search: str = "", page: int = 1, per_page: int = 25,
                    include_archived: bool = False) -> Page:
    """Return one page of the programmes ``user`` may see, filtered by ``search``."""
    query = visible_programmes(user)
    if not include_archived:
        query = query.where(MonitoringProgramme.active.is_(True))
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(
            or_(func.lower(MonitoringProgramme.code).like(like),
                func.lower(MonitoringProgramme.title).like(like))
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.options(selectinload(MonitoringProgramme.operating_institutions))
        .order_by(MonitoringProgramme.code)
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(list(items), max(page, 1), per_page, total)


def programme_overview(programme: MonitoringProgramme, *, recent: int = 10) -> dict[str, Any]:
    """Return what the detail page shows besides the programme itself."""
    runs = db.session.scalars(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.programme_id == programme.id)
        .order_by(MonitoringProgrammeRun.queued_at.desc())
        .limit(recent)
    ).all()
    alerts = db.session.scalars(
        select(MonitoringProgrammeAlert)
        .where(MonitoringProgrammeAlert.programme_id == programme.id,
               MonitoringProgrammeAlert.state != "resolved")
        .order_by(MonitoringProgrammeAlert.last_seen_at.desc())
    ).all()
    stewards = db.session.scalars(
        select(MonitoringProgrammeSteward)
        .where(MonitoringProgrammeSteward.programme_id == programme.id)
        .options(selectinload(MonitoringProgrammeSteward.user))
        .order_by(MonitoringProgrammeSteward.role, MonitoringProgrammeSteward.id)
    ).all()
    return {"runs": runs, "alerts": alerts, "stewards": stewards}
