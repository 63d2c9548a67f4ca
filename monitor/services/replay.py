"""What a changed program would have found: every stored sighting judged again, nothing written.

`replay_store(settings, rules, since, until)` streams the period's sightings from the store
(read-only, monitor/store/replay.py), rebuilds each as the `Sighting` the sweep judged — its
task (the market's zone from the changed program), its ad, its chain's landing, its
attribution and its time — judges it with the real `Judge` compiled once from the changed
program, and compares the verdict with the findings stored for it. A finding is *appear* (the
changed program finds it, the store has none), *disappear* (stored, no longer found) or
*severity* (both, at another severity); they are counted per offender and policy, with a few
example sighting ids.

Speed comes from what sightings share, never from judging differently: the ad, chain and
attribution records are built once per distinct set of ad facts, the task once per
distinct search, and a verdict is remembered per (search, ad facts, time as the judge reads
it). The judge reads time in two ways only: the agreement version in force on the market's
local day, which changes only on a version's first day and the day after its last (so the
time is which of those boundaries a sighting falls between), and the local weekday and hour,
for programs whose conditions test them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from monitor.errors import BidwatchError
from monitor.judge import compile_policies
from monitor.judge.incidents import case_destination
from monitor.judge.view import zone
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Chain,
    Device,
    MarketRef,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Sighting,
)
from monitor.program import Program, load_program
from monitor.program.conditions import AllCondition, AnyCondition, ConditionNode, NotCondition
from monitor.settings import Settings
from monitor.store.replay import (
    AD_FACTS,
    EVER,
    TASK_FACTS,
    ReplayRow,
    StoredFinding,
    allowlist_pairs,
    replay_rows,
    store_time,
)

#: condition kinds that read the local time of day or week (the judge's view fields
#: local_hour, local_weekday, local_clock); every other kind reads no time at all
TIME_KINDS = frozenset({"local_hour", "weekday"})
#: example sighting ids kept per offender and policy
EXAMPLES = 5
#: distinct entries a cache keeps before it starts again (memory stays bounded)
CACHE_LIMIT = 200_000

#: a verdict: (policy, severity) pairs, by policy
Verdict = dict[str, str]
_NO_FINDINGS: Verdict = {}


@dataclass
class PolicyDifference:
    """What would change for one offender and one policy."""

    offender: str
    partner: str | None
    policy: str
    appear: int = 0
    disappear: int = 0
    severity: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[int] = field(default_factory=list)

    def note(self, sighting_id: int) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(sighting_id)

    def as_json(self) -> dict[str, Any]:
        return {"offender": self.offender, "partner": self.partner, "policy": self.policy,
                "appear": self.appear, "disappear": self.disappear,
                "severity_changed": sum(self.severity.values()),
                "severity_changes": [{"from": old, "to": new, "count": count}
                                     for (old, new), count in sorted(self.severity.items())],
                "examples": list(self.examples)}


@dataclass
class ReplayReport:
    program: str
    since: date | None
    until: date | None
    sightings: int = 0
    changed_sightings: int = 0
    differences: dict[tuple[str, str], PolicyDifference] = field(default_factory=dict)

    def difference(self, offender: str, partner: str | None, policy: str) -> PolicyDifference:
        key = (offender, policy)
        found = self.differences.get(key)
        if found is None:
            found = self.differences[key] = PolicyDifference(offender, partner, policy)
        return found

    def as_json(self) -> dict[str, Any]:
        rows = [d.as_json() for _, d in sorted(self.differences.items())]
        return {
            "program": self.program,
            "period": {"since": _iso(self.since), "until": _iso(self.until)},
            "sightings": self.sightings, "changed_sightings": self.changed_sightings,
            "totals": {"appear": sum(r["appear"] for r in rows),
                       "disappear": sum(r["disappear"] for r in rows),
                       "severity_changed": sum(r["severity_changed"] for r in rows)},
            "changes": rows,
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def replay_store(settings: Settings, rules: Path, since: date | None = None,
                 until: date | None = None) -> ReplayReport:
    """Judge the stored sightings seen from `since` to `until` (UTC days, inclusive) under
    the program in `rules`; the store is only read."""
    program = load_program(rules)
    start, end = period_bounds(since, until)
    replayer = Replayer(program, allowlist_pairs(settings.database))
    report = ReplayReport(str(rules), since, until)
    with replay_rows(settings.database, start, end) as rows:
        replayer.compare(rows, report)
    return report


def period_bounds(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """[start, end) in UTC for the inclusive days given (either open)."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since else EVER[0]
    end = (datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
           if until else EVER[1])
    if end <= start:
        raise BidwatchError(f"--until {until} is before --since {since}")
    return start, end


def reads_time_of_day(program: Program) -> bool:
    """True when a policy's condition reads the local hour or weekday."""
    return any(_reads_time(p.when) for p in program.policies)


def _reads_time(node: ConditionNode) -> bool:
    if isinstance(node, AllCondition):
        return any(_reads_time(c) for c in node.all)
    if isinstance(node, AnyCondition):
        return any(_reads_time(c) for c in node.any)
    if isinstance(node, NotCondition):
        return _reads_time(node.not_)
    return node.kind in TIME_KINDS


@dataclass(frozen=True, slots=True)
class _AdParts:
    """The records built from one set of ad facts, and what comparing its verdicts needs."""

    number: int
    ad: ObservedAd
    chain: Chain
    attribution: Attribution
    offender: str
    cleared: bool


class Replayer:
    """The changed program compiled once, judging stored rows (monitor/store/replay.py)."""

    def __init__(self, program: Program, cleared: Iterable[tuple[str, str]] = ()) -> None:
        self._cleared = frozenset(cleared)
        self.judge = compile_policies(program, self._cleared)
        self._markets = {m.id: m.ref() for m in program.markets}
        self._by_hour = reads_time_of_day(program)
        self._days = agreement_days(program)
        self._bounds: dict[str, list[str]] = {}
        self._tasks: dict[tuple[Any, ...], tuple[int, SearchTask]] = {}
        self._ads: dict[tuple[Any, ...], _AdParts] = {}
        self._verdicts: dict[tuple[Any, ...], Verdict] = {}
        self._stored: dict[tuple[StoredFinding, ...], Verdict] = {(): _NO_FINDINGS}
        self._clocks: dict[tuple[str, str], tuple[int, int]] = {}

    def compare(self, rows: Iterator[ReplayRow], report: ReplayReport) -> None:
        """Judge every row and add what differs from its stored findings to `report`."""
        tasks, ads, verdicts, stored_of = self._tasks, self._ads, self._verdicts, self._stored
        bounds, by_hour = self._bounds, self._by_hour
        differences: dict[tuple[int, int], tuple[Verdict, Verdict, Differences]] = {}
        seen = changed = 0
        for row, findings in rows:
            seen += 1
            task = tasks.get(row[TASK_FACTS]) or self._task(row[TASK_FACTS])
            parts = ads.get(row[AD_FACTS]) or self._ad_parts(row[AD_FACTS])
            at, market = row[1], row[4]
            market_bounds = bounds.get(market)
            if market_bounds is None:
                market_bounds = self._market_bounds(market)
            # the agreement versions in force are the same between two boundaries
            when: Any = bisect_right(market_bounds, at) if market_bounds else 0
            if by_hour:
                when = (when, self._clock(market, at))
            key = (task[0], parts.number, when)
            now = verdicts.get(key)
            if now is None:
                now = self._verdict(task[1], parts, at, key)
            stored = stored_of.get(findings)
            if stored is None:
                stored = self._stored_verdict(findings)
            if now is stored or now == stored:
                continue
            if parts.cleared:  # cleared since it was recorded: neither side is a breach
                stored = _NO_FINDINGS
                if now == stored:
                    continue
            changed += 1
            pair = (id(stored), id(now))  # verdicts are shared objects, kept while cached
            found = differences.get(pair)
            if found is None or found[0] is not stored or found[1] is not now:
                found = (stored, now, differences_of(stored, now))
                _remember(differences, pair, found)
            _record(report, row[0], parts, stored, now, found[2])
        report.sightings += seen
        report.changed_sightings += changed

    def sighting(self, row: tuple[Any, ...]) -> Sighting:
        """A stored row as the Sighting the judge takes (compare builds the same, cached)."""
        task = self._tasks.get(row[TASK_FACTS]) or self._task(row[TASK_FACTS])
        parts = self._ads.get(row[AD_FACTS]) or self._ad_parts(row[AD_FACTS])
        return Sighting(task[1], parts.ad, parts.chain, parts.attribution, _time(row[1]))

    def _verdict(self, task: SearchTask, parts: _AdParts, at: str,
                 key: tuple[Any, ...]) -> Verdict:
        sighting = Sighting(task, parts.ad, parts.chain, parts.attribution, _time(at))
        found = {f.policy: str(f.severity) for f in self.judge.judge(sighting)}
        verdict = found or _NO_FINDINGS
        _remember(self._verdicts, key, verdict)
        return verdict

    def _task(self, facts: tuple[Any, ...]) -> tuple[int, SearchTask]:
        brand, engine, market, device, query, term_group = facts
        ref = self._markets.get(market) or MarketRef(market, "", "", "UTC")
        entry = (len(self._tasks), SearchTask(brand, engine, query, term_group, ref,
                                              Device(device)))
        if _remember(self._tasks, facts, entry):
            self._verdicts.clear()  # the numbers start again: verdicts keyed by them go too
            entry = (0, entry[1])
            self._tasks[facts] = entry
        return entry

    def _ad_parts(self, facts: tuple[Any, ...]) -> _AdParts:
        (kind, position, headline, description, display_url, landing_url, advertiser_class,
         partner, network, display_domain, landing_domain) = facts
        # what the judge reads of a sighting's ad, chain and attribution (SightingView,
        # and the offender and destination of Judge.judge); nothing else is fetched
        ad = ObservedAd(AdKind(kind), AdPosition(position), 1, headline, description,
                        display_url, "")
        chain = Chain("", (), landing_url or "")
        attribution = Attribution(AdvertiserClass(advertiser_class), partner,
                                  NetworkIds(network) if network else None,
                                  display_domain, landing_domain)
        offender = partner or landing_domain or display_domain or "unknown"
        cleared = (offender, case_destination(attribution)) in self._cleared
        parts = _AdParts(len(self._ads), ad, chain, attribution, offender, cleared)
        if _remember(self._ads, facts, parts):
            self._verdicts.clear()
            parts = _AdParts(0, ad, chain, attribution, offender, cleared)
            self._ads[facts] = parts
        return parts

    def _market_bounds(self, market: str) -> list[str]:
        """The instants (as stored times) where a market's local day crosses an agreement
        version's first day or the day after its last."""
        ref = self._markets.get(market)
        local: tzinfo = zone(ref.timezone) if ref else UTC
        self._bounds[market] = sorted(
            store_time(datetime(d.year, d.month, d.day, tzinfo=local)) for d in self._days)
        return self._bounds[market]

    def _clock(self, market: str, at: str) -> tuple[int, int]:
        """(weekday, hour) in the market of a stored time, remembered per UTC minute (zone
        offsets are whole minutes)."""
        key = (market, at[:16])
        found = self._clocks.get(key)
        if found is None:
            ref = self._markets.get(market)
            local = _time(at).astimezone(zone(ref.timezone) if ref else UTC)
            found = (local.weekday(), local.hour)
            _remember(self._clocks, key, found)
        return found

    def _stored_verdict(self, findings: tuple[StoredFinding, ...]) -> Verdict:
        verdict: Verdict = dict(findings)
        _remember(self._stored, findings, verdict)
        return verdict


def agreement_days(program: Program) -> frozenset[date]:
    """The local days on which some agreement version starts or has just ended."""
    days = set()
    for agreement in program.agreements:
        for version in agreement.versions:
            days.add(version.effective_from)
            if version.effective_to is not None:
                days.add(version.effective_to + timedelta(days=1))
    return frozenset(days)


#: what differs between two verdicts: (policy, stored severity or None, new or None)
Differences = tuple[tuple[str, str | None, str | None], ...]


def _record(report: ReplayReport, sighting_id: int, parts: _AdParts, stored: Verdict,
            now: Verdict, differences: Differences) -> None:
    partner = parts.attribution.partner
    for policy, was, becomes in differences:
        difference = report.difference(parts.offender, partner, policy)
        if was is None:
            difference.appear += 1
        elif becomes is None:
            difference.disappear += 1
        else:
            difference.severity[(was, becomes)] += 1
        difference.note(sighting_id)


def differences_of(stored: Verdict, now: Verdict) -> Differences:
    """Policy by policy, what the new verdict changes of the stored one."""
    return tuple((policy, stored.get(policy), now.get(policy))
                 for policy in sorted(stored.keys() | now.keys())
                 if stored.get(policy) != now.get(policy))


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> bool:
    """Keep `value`; True when the cache was full and started again."""
    full = len(cache) >= CACHE_LIMIT
    if full:
        cache.clear()
    cache[key] = value
    return full


def _time(at: str) -> datetime:
    return datetime.fromisoformat(at).replace(tzinfo=UTC)
