"""Agreements: which permissions are in force for a partner on a date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from monitor.judge.view import SightingView
from monitor.program import Program
from monitor.program.models import Permission
from monitor.program.terms import TermGroups


@dataclass(frozen=True, slots=True)
class Grant:
    """One compiled Permission: None means any engine/market/term group/device."""

    engines: frozenset[str] | None
    markets: frozenset[str] | None
    devices: frozenset[str] | None
    term_groups: TermGroups | None
    #: the permission as the program states it (explain names it)
    label: str = ""

    @classmethod
    def of(cls, permission: Permission) -> Grant:
        return cls(
            _frozen(permission.engines),
            _frozen(permission.markets),
            _frozen(permission.devices),
            TermGroups.of(permission.term_groups) if permission.term_groups is not None else None,
            f"permits {permission.in_words()}",
        )

    def allows(self, view: SightingView) -> bool:
        return (
            (self.engines is None or view.engine in self.engines)
            and (self.markets is None or view.market in self.markets)
            and (self.devices is None or view.device in self.devices)
            and (self.term_groups is None or self.term_groups.match(view.term_group))
        )


def _frozen(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(str(v) for v in values)


@dataclass(frozen=True, slots=True)
class VersionInForce:
    """One agreement version: its dates and its grants by policy id."""

    version: str
    starts: date
    ends: date | None
    grants: dict[str, tuple[Grant, ...]]

    def covers(self, day: date) -> bool:
        return self.starts <= day and (self.ends is None or day <= self.ends)


_NONE: frozenset[str] = frozenset()


class AgreementBook:
    """Every partner's agreement versions, to answer "is this permitted on that day?"."""

    def __init__(self, program: Program) -> None:
        self._versions: dict[str, tuple[VersionInForce, ...]] = {}
        for agreement in program.agreements:
            versions = sorted(agreement.versions, key=lambda v: v.effective_from)
            self._versions[agreement.partner] = tuple(
                VersionInForce(v.version, v.effective_from, v.effective_to, _grants(v.permissions))
                for v in versions
            )
        #: per partner, the policies some version grants something for
        self._granted = {
            partner: frozenset(policy for version in versions for policy in version.grants)
            for partner, versions in self._versions.items()
        }

    def in_force(self, partner: str, day: date) -> VersionInForce | None:
        """The version in force on `day`; the latest-starting one should versions overlap."""
        for version in reversed(self._versions.get(partner, ())):
            if version.covers(day):
                return version
        return None

    def granted(self, partner: str | None) -> frozenset[str]:
        """The policies some version of the partner's agreement has a permission for."""
        return self._granted.get(partner, _NONE) if partner is not None else _NONE

    def permits(self, policy: str, view: SightingView) -> bool:
        """True when the partner's agreement in force on the sighting's local date has a
        permission for `policy` that covers the ad's engine, market, term group and device."""
        partner = view.partner
        if partner is None or policy not in self.granted(partner):  # the common case
            return False
        version = self.in_force(partner, view.local_date)
        if version is None:
            return False
        return any(grant.allows(view) for grant in version.grants.get(policy, ()))

    def exempting(self, policy: str, view: SightingView) -> tuple[str, str] | None:
        """(agreement version, the permission) that permits `policy` for the sighting, or
        None."""
        partner = view.partner
        if partner is None or policy not in self.granted(partner):
            return None
        version = self.in_force(partner, view.local_date)
        if version is None:
            return None
        grant = next((g for g in version.grants.get(policy, ()) if g.allows(view)), None)
        return (version.version, grant.label) if grant else None


def _grants(permissions: Iterable[Permission]) -> dict[str, tuple[Grant, ...]]:
    by_policy: dict[str, list[Grant]] = {}
    for permission in permissions:
        by_policy.setdefault(permission.policy, []).append(Grant.of(permission))
    return {policy: tuple(grants) for policy, grants in by_policy.items()}
