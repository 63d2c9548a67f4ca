"""Incidents: findings about the same breach folded into one case compliance staff can work.

Pure rules only; the store applies them inside the transaction that records a sighting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from monitor.models import Finding, Sighting

if TYPE_CHECKING:  # the store imports this module; it needs no program at run time
    from monitor.program import Program

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


#: statuses of a case still being worked: these expire when the breach is not seen again
OPEN = frozenset({IncidentStatus.new, IncidentStatus.notified, IncidentStatus.acknowledged})


@dataclass(frozen=True)
class Escalation:
    """The program's escalation rules, as the record stage applies them."""

    #: a partner's new breach within this window of an earlier notice starts one level up
    repeat_window: timedelta = timedelta(days=90)
    #: policy id -> the level of its first notice (a grave breach may skip the warning)
    first_levels: Mapping[str, int] = field(default_factory=dict)

    def first_level(self, policy: str) -> int:
        return self.first_levels.get(policy, 1)


def escalation_of(program: Program) -> Escalation:
    return Escalation(
        repeat_window=timedelta(days=program.incidents.repeat_window_days),
        first_levels={p.id: p.first_level for p in program.policies},
    )


def notice_level_due(
    level: int,
    status: IncidentStatus,
    reopened: bool,
    *,
    first_level: int = 1,
    prior_level: int = 0,
) -> int | None:
    """The notice level a sighting calls for, or None when no new notice is owed.

    A first sighting owes the policy's first level, or one above the partner's highest
    notice in the repeat window (a repeat offender gets a final warning, then a termination
    notice). A breach that comes back after it was resolved owes the next level up. A false
    positive never owes a notice.
    """
    if status is IncidentStatus.false_positive:
        return None
    if level == 0:
        return min(MAX_LEVEL, max(first_level, prior_level + 1))
    if reopened and level < MAX_LEVEL:
        return level + 1
    return None


def notice_key(incident_id: int, level: int, channel: str = "email") -> str:
    """The outbox key: one notice per incident, level and channel, ever."""
    return f"notice:{incident_id}:{level}:{channel}"
