"""Plan: the compliance program in, the search tasks of one sweep out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.errors import ConfigError
from monitor.models import Device, SearchTask
from monitor.program import Program
from monitor.program.models import Brand, Market
from monitor.program.terms import modifier_group
from monitor.program.variants import LISTED, brand_variants, fold

#: an ad-hoc query naming a brand term is searched as brand+adhoc
ADHOC_GROUP = "adhoc"


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    brand: str
    query: str
    term_group: str
    #: `listed` (written in the program) or the variant family that generated it
    family: str = LISTED
    #: the markets it is asked in; None: every market
    markets: frozenset[str] | None = None

    def asked_in(self, market_id: str) -> bool:
        return self.markets is None or market_id in self.markets


def brand_queries(brand: Brand, language: str = "en") -> list[PlannedQuery]:
    """Every query a brand is watched on in a market of `language`: its terms, term +
    modifier, misspellings, and the variants its `variants:` block switches on."""
    return [PlannedQuery(brand.id, v.query, v.term_group, v.family)
            for v in brand_variants(brand, language)]


def program_queries(program: Program) -> list[PlannedQuery]:
    """Every query of the program, each with the markets it is asked in (a generated
    modifier is in the market's language), in plan order: the first market's, then what
    each further market adds."""
    planned: dict[tuple[str, str], PlannedQuery] = {}
    markets: dict[tuple[str, str], set[str]] = {}
    for brand in program.brands:
        for market in program.markets:
            for q in brand_queries(brand, market.language):
                key = (q.brand, fold(q.query))
                planned.setdefault(key, q)
                markets.setdefault(key, set()).add(market.id)
    every = {m.id for m in program.markets}
    return [PlannedQuery(q.brand, q.query, q.term_group, q.family,
                         None if markets[key] == every else frozenset(markets[key]))
            for key, q in planned.items()]


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
        if q.asked_in(market_id)
        for device in chosen_devices
    ]


def _queries(program: Program, terms: Sequence[str]) -> list[PlannedQuery]:
    planned = program_queries(program)
    if not terms:
        return planned
    # a term the analyst names is asked wherever they sweep, like an ad-hoc one
    chosen = (query_of(program, t, planned) for t in terms)
    return _unique(PlannedQuery(q.brand, q.query, q.term_group, q.family) for q in chosen)


def query_of(
    program: Program, text: str, planned: Sequence[PlannedQuery] | None = None
) -> PlannedQuery:
    """The program's query for `text` (its brand and term group), or an ad-hoc one."""
    if planned is None:
        planned = program_queries(program)
    folded = fold(text)
    for query in planned:
        if fold(query.query) == folded:
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
        seen.setdefault((q.brand, fold(q.query)), q)
    return list(seen.values())


@dataclass(frozen=True, slots=True)
class AskedQuery:
    """A query as a sweep asks it: on one engine, in one market (on each device)."""

    engine: str
    market: str
    language: str
    query: PlannedQuery


def asked_queries(
    program: Program, *, engines: Sequence[str] = (), markets: Sequence[str] = ()
) -> list[AskedQuery]:
    """The queries a whole-program sweep asks, per engine and market (`rules terms`)."""
    chosen_engines = _narrow("engine", program.engines, engines)
    chosen_markets = [_market(program, m)
                      for m in _narrow("market", [m.id for m in program.markets], markets)]
    # in each market, the order brand_queries gives: listed first, then family by family
    per_market = {market.id: _unique(q for brand in program.brands
                                     for q in brand_queries(brand, market.language))
                  for market in chosen_markets}
    return [AskedQuery(engine, market.id, market.language, q)
            for engine in chosen_engines for market in chosen_markets
            for q in per_market[market.id]]
