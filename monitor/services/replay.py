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
distinct search, and a verdict is remembered per (search, ad facts, time as the program
reads it) — the UTC minute when a policy reads the local hour or weekday, else the market's
local day (the agreement in force), which is all the judge reads of time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

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
from monitor.store.replay import AD_FACTS, EVER, allowlist_pairs, replay_rows

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
        from monitor.errors import BidwatchError

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
    """The records built from one set of ad facts, and what its verdict comparison needs."""

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
        self._by_minute = reads_time_of_day(program)
        self._tasks: dict[tuple[Any, ...], SearchTask] = {}
        self._ads: dict[tuple[Any, ...], _AdParts] = {}
        self._verdicts: dict[tuple[Any, ...], Verdict] = {}
        self._stored: dict[str | None, Verdict] = {None: _NO_FINDINGS}
        self._days: dict[tuple[str, str], date] = {}

    def compare(self, rows: Iterator[tuple[Any, ...]], report: ReplayReport) -> None:
        """Judge every row and add what differs from its stored findings to `report`."""
        verdicts, stored_of, verdict = self._verdicts, self._stored, self._verdict
        seen = changed = 0
        for row in rows:
            seen += 1
            ad_facts = row[AD_FACTS]
            minute = _minute(row[1])
            task = row[2:8]
            key = (task, ad_facts, minute if self._by_minute else self._day(row[4], minute))
            now = verdicts.get(key)
            if now is None:
                now = verdict(row, ad_facts, key)
            stored = stored_of.get(row[-1])
            if stored is None:
                stored = self._parse_stored(row[-1])
            if now is stored or now == stored:
                continue
            parts = self._ads.get(ad_facts) or self._ad_parts(ad_facts)
            if parts.cleared:  # cleared since it was recorded: neither side is a breach
                stored = _NO_FINDINGS
                if now == stored:
                    continue
            changed += 1
            _record(report, row[0], parts, stored, now)
        report.sightings += seen
        report.changed_sightings += changed

    def _verdict(self, row: tuple[Any, ...], ad_facts: tuple[Any, ...],
                 key: tuple[Any, ...]) -> Verdict:
        parts = self._ads.get(ad_facts)
        if parts is None:
            parts = self._ad_parts(ad_facts)
        task = self._tasks.get(row[2:8])
        if task is None:
            task = self._task(row)
        sighting = Sighting(task, parts.ad, parts.chain, parts.attribution, _time(row[1]))
        found = {f.policy: str(f.severity) for f in self.judge.judge(sighting)}
        verdict = found or _NO_FINDINGS
        _remember(self._verdicts, key, verdict)
        return verdict

    def _task(self, row: tuple[Any, ...]) -> SearchTask:
        _id, _seen, brand, engine, market, device, query, term_group = row[:8]
        ref = self._markets.get(market) or MarketRef(market, "", "", "UTC")
        task = SearchTask(brand, engine, query, term_group, ref, Device(device))
        _remember(self._tasks, row[2:8], task)
        return task

    def _ad_parts(self, facts: tuple[Any, ...]) -> _AdParts:
        (kind, position, rank, headline, description, display_url, link, click_url,
         advertiser, merchant, price, start_url, landing_url, chain_error, advertiser_class,
         partner, network, publisher_id, advertiser_id, creative_id, sub_id, click_id,
         aggregator, display_domain, landing_domain, domains_json, reason,
         inner_json) = facts
        # what the judge reads of an ad; sitelinks and hops it never reads, so they are not
        # fetched (SightingView: the texts, kind, position, landing URL and attribution)
        ad = ObservedAd(AdKind(kind), AdPosition(position), rank, headline, description,
                        display_url, link, click_url, advertiser, merchant=merchant, price=price)
        chain = Chain(start_url or link, (), landing_url or "", chain_error)
        ids = NetworkIds(network, publisher_id, advertiser_id, creative_id, sub_id, click_id,
                         aggregator=bool(aggregator)) if network else None
        inner = tuple(NetworkIds(**i) for i in json.loads(inner_json or "[]"))
        attribution = Attribution(AdvertiserClass(advertiser_class), partner, ids,
                                  display_domain, landing_domain,
                                  tuple(json.loads(domains_json or "[]")), reason or "",
                                  inner_networks=inner)
        offender = partner or landing_domain or display_domain or "unknown"
        cleared = (offender, case_destination(attribution)) in self._cleared
        parts = _AdParts(ad, chain, attribution, offender, cleared)
        _remember(self._ads, facts, parts)
        return parts

    def _day(self, market: str, minute: str) -> date:
        """The market's local day of a UTC minute (the agreement in force is by that day)."""
        key = (market, minute)
        day = self._days.get(key)
        if day is None:
            ref = self._markets.get(market)
            local: tzinfo = zone(ref.timezone) if ref else UTC
            day = datetime.fromisoformat(minute).replace(tzinfo=UTC).astimezone(local).date()
            _remember(self._days, key, day)
        return day

    def _parse_stored(self, raw: str) -> Verdict:
        pairs = (item.split("=", 1) for item in raw.split(",") if item)
        verdict: Verdict = dict(sorted((policy, severity) for policy, severity in pairs))
        _remember(self._stored, raw, verdict)
        return verdict


def _record(report: ReplayReport, sighting_id: int, parts: _AdParts, stored: Verdict,
            now: Verdict) -> None:
    partner = parts.attribution.partner
    for policy, severity in now.items():
        was = stored.get(policy)
        if was == severity:
            continue
        difference = report.difference(parts.offender, partner, policy)
        if was is None:
            difference.appear += 1
        else:
            difference.severity[(was, severity)] += 1
        difference.note(sighting_id)
    for policy in stored.keys() - now.keys():
        difference = report.difference(parts.offender, partner, policy)
        difference.disappear += 1
        difference.note(sighting_id)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _minute(seen: Any) -> str:
    """"YYYY-MM-DD HH:MM" (UTC) of a stored time: SQLite gives text, PostgreSQL a datetime.
    Zone offsets are whole minutes, so the local hour, weekday and day follow from it."""
    if isinstance(seen, str):
        return seen[:16]
    return seen.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _time(seen: Any) -> datetime:
    value = datetime.fromisoformat(seen) if isinstance(seen, str) else seen
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
