"""The data model. Import models from here."""

# The notification tables join the metadata through this import.
from portal.models import notifications as notifications
from portal.models.alerts import ALERT_STATES, SEVERITIES, MonitoringProgrammeAlert
from portal.models.audit import AuditEvent
from portal.models.base import UTCDateTime, new_uuid, utcnow
from portal.models.programmes import (
    NAMED_CADENCES,
    STEWARD_ROLES,
    MonitoringProgramme,
    MonitoringProgrammeSteward,
    SharedFolder,
    SharedFolderGrant,
    programme_institutions,
)
from portal.models.releases import CANDIDATE_STATUSES, ReleaseCandidate, ReleaseWithdrawal
from portal.models.runs import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    RUN_STATUSES,
    RUN_TRIGGERS,
    RUN_TYPES,
    STEP_STATUSES,
    MonitoringProgrammeRun,
    MonitoringProgrammeRunStep,
)
from portal.models.sightings import SIGHTING_SOURCES, ProgrammeInputSighting, ScanCursor
from portal.models.uploads import UPLOAD_KINDS, ProgrammeUpload
from portal.models.users import ApiToken, Institution, User, institution_members

__all__ = [
    "ACTIVE_STATUSES",
    "ALERT_STATES",
    "CANDIDATE_STATUSES",
    "FINAL_STATUSES",
    "NAMED_CADENCES",
    "RUN_STATUSES",
    "RUN_TRIGGERS",
    "RUN_TYPES",
    "SEVERITIES",
    "SIGHTING_SOURCES",
    "UPLOAD_KINDS",
    "STEP_STATUSES",
    "STEWARD_ROLES",
    "ApiToken",
    "AuditEvent",
    "Institution",
    "MonitoringProgramme",
    "MonitoringProgrammeAlert",
    "MonitoringProgrammeRun",
    "MonitoringProgrammeRunStep",
    "MonitoringProgrammeSteward",
    "ProgrammeInputSighting",
    "ProgrammeUpload",
    "ReleaseCandidate",
    "ReleaseWithdrawal",
    "ScanCursor",
    "SharedFolder",
    "SharedFolderGrant",
    "UTCDateTime",
    "User",
    "institution_members",
    "new_uuid",
    "programme_institutions",
    "utcnow",
]
