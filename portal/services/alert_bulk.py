"""Acknowledge or resolve many alerts at once, with one note.

Each alert goes through the same one-alert use case (``services.alerts``), so each is
audited on its own with the shared note; an alert that cannot take the action (already
resolved, out of the user's reach) is reported and skipped, never half-changed. The note
is checked once, before anything changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import access
from portal.extensions import db
from portal.models import MonitoringProgrammeAlert, User
from portal.services import DomainError
from portal.services import alerts as alert_service

UUID_RE = re.compile(r"[0-9a-fA-F-]{1,36}")
#: One bulk action handles at most this many alerts (a page of the inbox is 25 to 100).
MAX_BULK = 200
ACTIONS: dict[str, Callable] = {"acknowledge": alert_service.acknowledge,
                                "resolve": alert_service.resolve}


@dataclass
class BulkOutcome:
    """What a bulk triage did: the alerts changed, and why the others were not."""

    action: str
    changed: list[MonitoringProgrammeAlert] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one sentence per skipped alert

    def summary(self) -> str:
        """One sentence for the flash message."""
        done = "acknowledged" if self.action == "acknowledge" else "resolved"
        text = f"{len(self.changed)} alert{'' if len(self.changed) == 1 else 's'} {done}."
        if self.refused:
            text += f" {len(self.refused)} not changed: " + "; ".join(self.refused[:5])
            text += "…" if len(self.refused) > 5 else "."
        return text


def triage_many(alert_uuids: list[str], user: User, action: str, note: str | None, *,
                request_id: str | None = None) -> BulkOutcome:
    """Acknowledge or resolve each alert in ``alert_uuids`` with the same ``note``.

    Args:
        alert_uuids: the chosen alerts (unknown or invisible ones are reported, not found).
        user: the acting user; each alert's programme must allow them to triage.
        action: ``"acknowledge"`` or ``"resolve"``.
        note: one note for every alert (required to resolve).

    Returns:
        A BulkOutcome listing the changed alerts and a reason for each skipped one.

    Raises:
        DomainError: an unknown action, no alert chosen, too many, or a bad note.
    """
    if action not in ACTIONS:
        raise DomainError("Choose Acknowledge or Resolve.", field="action")
    uuids = list(dict.fromkeys(u.strip() for u in alert_uuids if u and u.strip()))
    if not uuids:
        raise DomainError("Select at least one alert.", field="alert")
    if len(uuids) > MAX_BULK:
        raise DomainError(f"Select at most {MAX_BULK} alerts at once.", field="alert")
    alert_service.check_note(note, required=action == "resolve")
    Alert = MonitoringProgrammeAlert
    plausible = [u for u in uuids if UUID_RE.fullmatch(u)]  # anything else: "not found"
    found = {alert.uuid: alert for alert in db.session.scalars(
        select(Alert).where(Alert.uuid.in_(plausible))
        .options(joinedload(Alert.programme)))}
    outcome = BulkOutcome(action)
    for uuid in uuids:
        alert = found.get(uuid)
        if alert is None or not access.can(user, access.VIEW, alert.programme):
            outcome.refused.append(f"{uuid[:8]}… not found")
            continue
        label = f"{alert.rule_id} on {alert.programme.code}"
        if not access.can(user, access.TRIAGE, alert.programme):
            outcome.refused.append(f"{label}: {access.ACTION_EXPLANATIONS[access.TRIAGE]}")
            continue
        try:
            ACTIONS[action](alert, user, note, request_id=request_id)
        except DomainError as refused:
            db.session.rollback()  # release the write lock the refused change took
            outcome.refused.append(f"{label}: {refused.message}")
        else:
            outcome.changed.append(alert)
    return outcome
