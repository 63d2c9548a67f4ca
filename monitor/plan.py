"""Plan: the compliance program in, the search tasks of one sweep out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.errors import ConfigError
from monitor.models import Device, SearchTask
from monitor.program import Program
from monitor.program.models import Brand, Market
from monitor.program.terms import BRAND_GROUP, MISSPELLING_GROUP, modifier_group

#: an ad-hoc query naming a brand term is searched as brand+adhoc
ADHOC_GROUP = "adhoc"


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    brand: str
    query: str
    term_group: str


def brand_queries(brand: Brand) -> list[PlannedQuery]:
    """Every query a brand is watched on: its terms, term + modifier, and misspellings."""
    queries = [PlannedQuery(brand.id, term, BRAND_GROUP) for term in brand.terms]
    queries += [
        PlannedQuery(brand.id, f"{term} {modifier}", modifier_group(modifier))
        for term in brand.terms
        for modifier in brand.modifiers
    ]
    queries += [PlannedQuery(brand.id, m, MISSPELLING_GROUP) for m in brand.misspellings]
    return _unique(queries)


def plan_tasks(
    program: Program,
    *,
    engines: Sequence[str] = (),
    markets: Sequence[str] = (),
    devices: Sequence[Device] = (),
    terms: Sequence[str] = (),
) -> list[SearchTask]:
    """Tasks for a sweep; each filter narrows the program's own lists when given.

    A `terms` entry that is not one of the program's queries becomes an ad-hoc query of the
    first brand (an analyst checking a new modifier), grouped as brand-related when it
    contains a brand term.
    """
    chosen_engines = _narrow("engine", program.engines, engines)
    chosen_markets = _narrow("market", [m.id for m in program.markets], markets)
    chosen_devices = _narrow("device", list(program.devices), devices)
    queries = _queries(program, terms)
    return [
        SearchTask(brand=q.brand, engine=engine, query=q.query, term_group=q.term_group,
                   market=_market(program, market_id).ref(), device=Device(device))
        for q in queries
        for engine in chosen_engines
        for market_id in chosen_markets
        for device in chosen_devices
    ]


def _queries(program: Program, terms: Sequence[str]) -> list[PlannedQuery]:
    planned = [q for brand in program.brands for q in brand_queries(brand)]
    if not terms:
        return planned
    return _unique(query_of(program, t, planned) for t in terms)


def query_of(
    program: Program, text: str, planned: Sequence[PlannedQuery] | None = None
) -> PlannedQuery:
    """The program's query for `text` (its brand and term group), or an ad-hoc one."""
    if planned is None:
        planned = [q for brand in program.brands for q in brand_queries(brand)]
    folded = " ".join(text.split()).casefold()
    for query in planned:
        if query.query.casefold() == folded:
            return query
    return _adhoc(program, text)


def _adhoc(program: Program, term: str) -> PlannedQuery:
    folded = term.casefold()
    for brand in program.brands:
        if any(t.casefold() in folded for t in brand.terms):
            return PlannedQuery(brand.id, term, modifier_group(ADHOC_GROUP))
    return PlannedQuery(program.brands[0].id, term, ADHOC_GROUP)


def _narrow(what: str, available: Sequence[str], wanted: Sequence[str]) -> list[str]:
    if not wanted:
        return list(available)
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ConfigError(
            f"unknown {what} {', '.join(map(repr, unknown))}; the program has: "
            + ", ".join(available)
        )
    return list(dict.fromkeys(wanted))


def _market(program: Program, market_id: str) -> Market:
    market = program.market(market_id)
    if market is None:  # _narrow checked the ids; this guards a program edited in between
        raise ConfigError(f"unknown market {market_id!r}")
    return market


def _unique(queries: Iterable[PlannedQuery]) -> list[PlannedQuery]:
    seen: dict[tuple[str, str], PlannedQuery] = {}
    for q in queries:
        seen.setdefault((q.brand, q.query.casefold()), q)
    return list(seen.values())
