"""The judge: every policy and agreement of a program compiled once, then applied to sightings.

`compile_policies(program, cleared)` returns a `Judge`; `Judge.judge(sighting)` returns the
findings, sorted by policy id. `cleared` holds the (advertiser, destination) pairs staff have
carried forward from a false positive: such an ad is never a breach.

Judging is pure: no I/O, no clock, no randomness. An index over the plain fields each policy
needs picks the policies a sighting can match; the index never changes a verdict, it only
skips work.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.judge.agreements import AgreementBook
from monitor.judge.compile import compile_policy
from monitor.judge.conditions import CompileContext
from monitor.judge.incidents import case_destination
from monitor.judge.index import _CACHE_LIMIT, PolicyIndex, Requirement, _both, requirement
from monitor.judge.view import SightingView
from monitor.models import (
    AdvertiserClass,
    Finding,
    Sighting,
)
from monitor.program import Program
from monitor.program.fields import domain_in
from monitor.program.models import Policy


class Judge:
    """The compiled program. `judge` is pure; its caches only remember answers, so it is
    safe to call from many threads."""

    def __init__(self, program: Program, cleared: Iterable[tuple[str, str]] = ()) -> None:
        self._ctx = CompileContext(program)
        self._cleared = frozenset(cleared)
        self._ignore = frozenset(program.ignore)
        self._allow = frozenset(program.allowlist)
        self._exempt_domains: dict[str, bool] = {}
        self._book = AgreementBook(program)
        ordered = sorted(program.policies, key=lambda p: p.id)
        self.policies = tuple(compile_policy(p, self._ctx) for p in ordered)
        self.index = PolicyIndex(self.policies, [_policy_needs(p, self._ctx) for p in ordered])

    def judge(self, sighting: Sighting) -> list[Finding]:
        """Every policy the sighting breaches and no agreement permits, sorted by policy id."""
        attribution = sighting.attribution
        if attribution.advertiser_class is AdvertiserClass.brand:
            return []
        if self._exempt(attribution.display_domain) or self._exempt(attribution.landing_domain):
            return []
        view = SightingView(sighting, self._ctx.brand_terms(sighting.task.brand))
        candidates = self.index.candidates(view)
        if not candidates:
            return []
        offender, partner, group = sighting.offender, view.partner, view.term_group
        if self._cleared and (offender, case_destination(attribution)) in self._cleared:
            return []
        # only a policy the partner has some permission for needs the agreement looked up
        granted, permits, findings = self._book.granted(partner), self._book.permits, []
        for policy in candidates:
            facts = policy.match(view)
            if facts is None or (policy.id in granted and permits(policy.id, view)):
                continue
            findings.append(policy.finding(offender, partner, group, facts))
        if findings and partner:
            version = self._book.in_force(partner, view.local_date)
            if version is not None:
                findings = [f._replace(agreement_version=version.version) for f in findings]
        return findings

    def clear(self, cleared: Iterable[tuple[str, str]]) -> None:
        """Replace the cleared (advertiser, destination) pairs: staff add to the allowlist
        between sweeps, and each sweep judges by the list as it stands when it starts."""
        self._cleared = frozenset(cleared)

    def exemptions(self, sighting: Sighting) -> list[tuple[str, str, str]]:
        """(policy, agreement version, permission) for each policy the sighting matches but
        the partner's agreement permits: for explain, which names why there is no finding."""
        view = SightingView(sighting, self._ctx.brand_terms(sighting.task.brand))
        exempt = []
        for policy in self.index.candidates(view):
            if policy.match(view) is None:
                continue
            found = self._book.exempting(policy.id, view)
            if found is not None:
                exempt.append((policy.id, *found))
        return exempt

    def _exempt(self, domain: str | None) -> bool:
        """On the ignore list or the allowlist: never judged. Remembered per domain."""
        if not domain:
            return False
        known = self._exempt_domains.get(domain)
        if known is None:
            folded = domain.casefold()
            known = bool(domain_in(folded, self._ignore) or domain_in(folded, self._allow))
            if len(self._exempt_domains) >= _CACHE_LIMIT:
                self._exempt_domains.clear()
            self._exempt_domains[domain] = known
        return known


def _policy_needs(policy: Policy, ctx: CompileContext) -> Requirement:
    """The tree's needs plus `applies_to`: a policy is never judged for other classes."""
    classes = frozenset(str(c) for c in policy.applies_to)
    applies = Requirement({"advertiser_class": lambda value: value in classes}, exact=True)
    return _both([applies, requirement(policy.when, ctx)])


def compile_policies(program: Program, cleared: Iterable[tuple[str, str]] = ()) -> Judge:
    """Compile every policy and agreement of a (validated) program once; `cleared` pairs
    (advertiser, destination) are never breaches."""
    return Judge(program, cleared)
