"""Cases (incidents): every finding about one offender's offending ad folded into one case
compliance staff can work and a partner can read.

The key is offender · destination · network: who placed the ad, the registrable domain it
sends people to, and the affiliate network its link went through (or none). A responsive
search ad rotates its headlines and descriptions from one impression to the next, so nothing
of its copy is in the key; the same ad on another engine, market, device or search term is a
new sighting of the same case; each policy it breaks is a clause of the case. Two tracking
links of one partner to the same site are two cases: two campaigns, and two networks that
each arbitrate their own (docs/incidents.md says why).

Pure rules only; the store applies them inside the transaction that records a sighting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from monitor.models import Attribution

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


def case_destination(attribution: Attribution) -> str:
    """Where the ad sends people: its landing domain, else its display domain."""
    return attribution.landing_domain or attribution.display_domain or "unknown"


def case_network(attribution: Attribution) -> str | None:
    """The affiliate network the ad's link went through, None when it went straight."""
    return attribution.network.network if attribution.network else None


def case_key(offender: str, destination: str, network: str | None) -> str:
    """The same offender's ad to the same destination through the same network is the same
    case."""
    return f"{offender}|{destination}|{network or 'direct'}"


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
    new_clause_level: int = 0,
) -> int | None:
    """The notice level a sighting of a case calls for, or None when no new notice is owed.

    A new case owes the highest first level among its clauses (a grave breach may skip the
    warning), or one above the partner's highest notice in the repeat window (a repeat
    offender gets a final warning, then a termination notice). A case that comes back after
    it was resolved owes the next level up. A clause new to an open case owes a notice only
    when its own first level is above the level the case has reached; otherwise it is
    recorded on the case, and the digest shows it as new. A false positive never owes one.
    """
    if status is IncidentStatus.false_positive:
        return None
    if level == 0:
        return min(MAX_LEVEL, max(first_level, prior_level + 1))
    if reopened and level < MAX_LEVEL:
        return level + 1
    if new_clause_level > level:
        return min(MAX_LEVEL, new_clause_level)
    return None


def notice_key(incident_id: int, level: int, channel: str = "email") -> str:
    """The outbox key: one notice per case, level and channel, ever. ("case" keeps these
    apart from the keys of the incidents before cases, which the outbox still holds.)"""
    return f"notice:case{incident_id}:{level}:{channel}"
