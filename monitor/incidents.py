"""Incidents: findings about the same breach folded into one case compliance staff can work.

Pure rules only; the store applies them inside the transaction that records a sighting.
"""

from __future__ import annotations

from enum import StrEnum

from monitor.models import Finding, Sighting

MAX_LEVEL = 3  # 1 warning, 2 final warning, 3 termination notice


class IncidentStatus(StrEnum):
    new = "new"
    notified = "notified"
    acknowledged = "acknowledged"
    resolved = "resolved"
    false_positive = "false_positive"
    expired = "expired"


#: statuses that a new sighting turns back into an open case
REOPENING = frozenset({IncidentStatus.resolved, IncidentStatus.expired})


def incident_key(finding: Finding, sighting: Sighting) -> str:
    """The same offender breaking the same policy on the same term group and engine."""
    return "|".join(
        [finding.offender, finding.policy, finding.term_group, sighting.task.engine]
    )


def status_after_sighting(status: IncidentStatus) -> IncidentStatus:
    """A resolved or expired incident seen again reopens; every other status stands."""
    return IncidentStatus.new if status in REOPENING else status


def notice_level_due(level: int, status: IncidentStatus, reopened: bool) -> int | None:
    """The notice level a sighting calls for, or None when no new notice is owed.

    The first sighting owes a warning; a breach that comes back after it was resolved owes
    the next level up. A false positive never owes a notice.
    """
    if status is IncidentStatus.false_positive:
        return None
    if level == 0:
        return 1
    if reopened and level < MAX_LEVEL:
        return level + 1
    return None


def notice_key(incident_id: int, level: int, channel: str = "email") -> str:
    """The outbox key: one notice per incident, level and channel, ever."""
    return f"notice:{incident_id}:{level}:{channel}"
