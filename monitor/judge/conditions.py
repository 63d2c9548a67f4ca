"""Condition kinds: the registry, every leaf condition, and the matchers they share.

Every leaf kind of a policy's `when:` tree lives in ONE registry (`CONDITIONS`): a params type
that pydantic validates and a build function that turns the params into a predicate
`(SightingView) -> Fact | None`. A new kind of condition is one decorated function here; the
tree (all/any/not), compiling and judging live in monitor.judge.policy.

A kind whose verdict depends on one plain field of the sighting (engine, market, partner…)
says so with `reads=`: the judge then indexes policies by that field and never evaluates a
policy that cannot match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from difflib import get_close_matches
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeVar, overload
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from monitor.attribute.networks import NETWORK_NAMES
from monitor.models import AdPosition, AdvertiserClass, Device, Fact, Sighting

if TYPE_CHECKING:
    from monitor.program.models import Brand, Program

# ---------------------------------------------------------------------------------------------
# Value types shared with monitor.program.models (they live here because condition params use them).

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DOMAIN = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid id: use lower-case letters, digits, '-' and '_' "
            "(e.g. 'no-brand-bidding')"
        )
    return value


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f"'{value}' is not a domain name (e.g. 'lumora.com'; no scheme or path)")
    return value


def _domain_or_brand(value: str) -> str:
    return value if value.strip() == "brand" else _domain(value)


#: an id: lower-case letters, digits, '-' and '_', e.g. "no-brand-bidding"
Slug = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_slug)]
#: a host name or registrable domain, lower-cased, e.g. "lumora.co.id"
Domain = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_domain)]
#: a domain, or the word `brand` for the brand's own domains
DomainOrBrand = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_domain_or_brand)
]
ENGINE_NAMES: tuple[str, ...] = ("google", "bing", "duckduckgo", "yahoo")
EngineName = Literal["google", "bing", "duckduckgo", "yahoo"]
#: the term group that stands for every brand-related group
BRAND_ANY = "brand-any"
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _listify(value: object) -> object:
    """Let a one-item list be written as a bare scalar: `engine: google`."""
    return [value] if isinstance(value, str | bool | int) else value


def one_or_many(item: Any) -> Any:
    """A non-empty list of `item`, where a single value may be written without brackets."""
    return Annotated[list[item], BeforeValidator(_listify), Field(min_length=1)]


def is_brand_group(group: str) -> bool:
    """True for the groups plan makes from a brand: brand, brand+<modifier>, misspelling."""
    return group == "brand" or group == "misspelling" or group.startswith("brand+")


# ---------------------------------------------------------------------------------------------
# Small fast matchers used by conditions and agreement permissions.


@dataclass(frozen=True, slots=True)
class TermGroups:
    """A set of term-group names; `brand-any` and `brand+*` are accepted as wildcards."""

    exact: frozenset[str]
    brand_any: bool
    any_modifier: bool

    @classmethod
    def of(cls, names: Iterable[str]) -> TermGroups:
        wanted = frozenset(names)
        return cls(wanted, BRAND_ANY in wanted, "brand+*" in wanted)

    def match(self, group: str) -> bool:
        if group in self.exact:
            return True
        if self.brand_any:
            return is_brand_group(group)
        return self.any_modifier and group.startswith("brand+")


def domain_in(domain: str, wanted: frozenset[str]) -> str | None:
    """The entry of `wanted` that `domain` is, or is a subdomain of; None when there is none."""
    while domain:
        if domain in wanted:
            return domain
        domain = domain.partition(".")[2]
    return None


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one insertion, deletion, substitution or swap."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    # an adjacent transposition ("lumroa") is the commonest typo; count it as one edit
    return a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1]


_WORD = re.compile(r"\w+")
_QUERY_CACHE_LIMIT = 20_000
#: edit-distance matching only for terms this long; shorter ones give too many false hits
FUZZY_MIN_LENGTH = 5


class BrandTerms:
    """A brand's terms and misspellings, lower-cased once, with the matching the rules need."""

    def __init__(self, terms: Iterable[str], misspellings: Iterable[str]) -> None:
        self.terms = tuple(sorted({t.casefold() for t in terms if t.strip()}))
        self.misspellings = tuple(sorted({m.casefold() for m in misspellings if m.strip()}))
        self._exact = self.terms + self.misspellings
        self._compact = tuple(sorted({_compact(t) for t in self._exact}))
        self._fuzzy = tuple(t for t in self.terms if len(t) >= FUZZY_MIN_LENGTH)
        self._queries: dict[str, str | None] = {}

    def in_text(self, text: str) -> str | None:
        """The first term or misspelling that occurs in an already lower-cased text."""
        for term in self._exact:
            if term in text:
                return term
        return None

    def in_url(self, url: str) -> str | None:
        """Like in_text, also finding "Lumora Sleep" written as lumorasleep or lumora-sleep."""
        return self.in_text(url) or _first_in(self._compact, _compact(url))

    def in_query(self, query: str) -> str | None:
        """A description of how the (lower-cased) query names the brand, or None. Cached."""
        if query in self._queries:
            return self._queries[query]
        if len(self._queries) >= _QUERY_CACHE_LIMIT:
            self._queries.clear()
        found = self._search_query(query)
        self._queries[query] = found
        return found

    def _search_query(self, query: str) -> str | None:
        exact = self.in_text(query)
        if exact is not None:
            return f"'{exact}'"
        words = _WORD.findall(query)
        for term in self._fuzzy:
            width = term.count(" ") + 1
            for start in range(len(words) - width + 1):
                window = " ".join(words[start : start + width])
                if within_one_edit(window, term):
                    return f"'{window}' (close to '{term}')"
        return None


def _compact(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def _first_in(needles: Sequence[str], haystack: str) -> str | None:
    return next((n for n in needles if n in haystack), None)


# ---------------------------------------------------------------------------------------------
# The view of one sighting that conditions read: built once per sighting, then shared.

_ZONES: dict[str, tzinfo] = {}


def zone(name: str) -> tzinfo:
    """A cached ZoneInfo; UTC for a name zoneinfo does not know (the program check refuses it)."""
    found = _ZONES.get(name)
    if found is None:
        try:
            found = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            found = UTC
        _ZONES[name] = found
    return found


_T = TypeVar("_T")


class _Lazy(Generic[_T]):
    """A view field computed on first read and then kept in the instance dict (which a
    non-data descriptor yields to), so later reads are plain attribute reads. Unlike
    functools.cached_property it takes no lock: a view belongs to one judging call."""

    __slots__ = ("compute", "name")

    def __init__(self, compute: Callable[[SightingView], _T]) -> None:
        self.compute = compute
        self.name = compute.__name__

    @overload
    def __get__(self, view: None, owner: type) -> _Lazy[_T]: ...
    @overload
    def __get__(self, view: SightingView, owner: type) -> _T: ...
    def __get__(self, view: SightingView | None, owner: type) -> _T | _Lazy[_T]:
        if view is None:
            return self
        value = self.compute(view)
        view.__dict__[self.name] = value
        return value


class SightingView:
    """The fields conditions compare. The plain fields (engine, market, partner…) are read
    when the view is made; texts, domains and local time are normalised on first use."""

    # no __slots__: a lazy field is stored in the instance dict, so it is computed once

    def __init__(self, sighting: Sighting, brand: BrandTerms) -> None:
        task, attribution = sighting.task, sighting.attribution
        self.sighting = sighting
        self.brand = brand
        self.engine: str = task.engine
        self.market: str = task.market.id
        self.device: str = task.device
        self.term_group: str = task.term_group
        self.position: str = sighting.ad.position
        self.advertiser_class: str = attribution.advertiser_class
        self.partner: str | None = attribution.partner
        ids = attribution.network
        self.network: str | None = ids.network if ids is not None else None

    @_Lazy
    def query(self) -> str:
        return self.sighting.task.query.casefold()

    @_Lazy
    def headline(self) -> str:
        return self.sighting.ad.headline.casefold()

    @_Lazy
    def description(self) -> str:
        return self.sighting.ad.description.casefold()

    @_Lazy
    def display_url(self) -> str:
        return self.sighting.ad.display_url.casefold()

    @_Lazy
    def landing_url(self) -> str:
        return self.sighting.chain.landing_url.casefold()

    @_Lazy
    def landing_domain(self) -> str:
        return (self.sighting.attribution.landing_domain or "").casefold()

    @_Lazy
    def display_domain(self) -> str:
        return (self.sighting.attribution.display_domain or "").casefold()

    # the `brand_in` fact for each ad field (None: no brand term there), kept on the view so
    # the policies that look in the same field (often one per market, one per engine) share it
    @_Lazy
    def brand_in_headline(self) -> Fact | None:
        return _brand_fact(self.brand.in_text(self.headline), "headline")

    @_Lazy
    def brand_in_description(self) -> Fact | None:
        return _brand_fact(self.brand.in_text(self.description), "description")

    @_Lazy
    def brand_in_display_url(self) -> Fact | None:
        return _brand_fact(self.brand.in_url(self.display_url), "display_url")

    @_Lazy
    def local(self) -> datetime:
        """When the ad was seen, in the market's time zone."""
        seen = self.sighting.seen_at
        if seen.tzinfo is None:  # the contract says UTC; a naive value is taken as UTC
            seen = seen.replace(tzinfo=UTC)
        return seen.astimezone(zone(self.sighting.task.market.timezone))

    @_Lazy
    def local_date(self) -> date:
        return self.local.date()

    @_Lazy
    def local_hour(self) -> int:
        return self.local.hour

    @_Lazy
    def local_weekday(self) -> int:
        return self.local.weekday()  # 0 is Monday

    @_Lazy
    def local_clock(self) -> str:
        local = self.local  # "22:05 CET"; formatted by hand, a third of strftime's cost
        return f"{local.hour:02d}:{local.minute:02d} {local.tzname() or ''}"

    @_Lazy
    def query_names_brand(self) -> str | None:
        """How the query names the brand ("'lumra' (close to 'lumora')"), or None."""
        return self.brand.in_query(self.query)


def _brand_fact(term: str | None, field: str) -> Fact | None:
    return fact("brand_in", f"'{term}' in {field}") if term else None


#: the view's fields that come from the search task; a crawl runs few distinct combinations
TASK_FIELDS: tuple[str, ...] = ("device", "engine", "market", "term_group")


def is_lazy(field: str) -> bool:
    """True for a view field computed on first read (texts, local time), False for the plain
    fields every view reads up front (engine, market, partner…)."""
    return isinstance(SightingView.__dict__.get(field), _Lazy)


# ---------------------------------------------------------------------------------------------
# The registry of condition kinds.

Predicate = Callable[[SightingView], Fact | None]
#: a compiled (sub)tree: the facts that made it match, or None
Matcher = Callable[[SightingView], tuple[Fact, ...] | None]
Loc = tuple[str | int, ...]
Checker = Callable[[Any, "Program"], Iterator[tuple[Loc, str]]]


class CompileContext:
    """What building a predicate may consult: the program, read once at compile time."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.brand_domains = frozenset(program.brand_domains())
        self.all_brands = BrandTerms(
            (t for b in program.brands for t in b.terms),
            (m for b in program.brands for m in b.misspellings),
        )
        self._brands = {b.id: _brand_terms(b) for b in program.brands}

    def brand_terms(self, brand_id: str) -> BrandTerms:
        """The brand a task searched for; every brand's terms when the id is unknown."""
        return self._brands.get(brand_id, self.all_brands)


def _brand_terms(brand: Brand) -> BrandTerms:
    return BrandTerms(brand.terms, brand.misspellings)


class ConditionNode(BaseModel):
    """A parsed condition: one mapping with one key (the kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    kind: ClassVar[str] = ""

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)


@dataclass(frozen=True, slots=True)
class ConditionKind:
    """One leaf kind: its name, params type, predicate builder and optional program check.

    `reads` names the one SightingView field whose value alone decides whether the predicate
    matches, when there is one: the judge's index then asks the predicate about each value of
    that field (other fields may still be read for the fact's wording, once it matched)."""

    name: str
    params: Any
    build: Callable[[Any, CompileContext], Predicate]
    check: Checker | None
    doc: str
    node: type[ConditionNode]
    reads: str | None = None


class ConditionRegistry:
    """Kind name -> ConditionKind. The YAML syntax, validation and `rules check` all read it."""

    def __init__(self) -> None:
        self._kinds: dict[str, ConditionKind] = {}

    def register(
        self, name: str, params: Any, check: Checker | None = None, reads: str | None = None
    ) -> Callable[[Callable[[Any, CompileContext], Predicate]], Callable[..., Predicate]]:
        """Decorator: `@CONDITIONS.register("engine", one_or_many(EngineName), reads="engine")`.
        Give `reads` only when the predicate looks at that one field and nothing else."""

        def add(build: Callable[[Any, CompileContext], Predicate]) -> Callable[..., Predicate]:
            if name in self._kinds or name in COMBINATORS:
                raise ValueError(f"condition kind {name!r} is registered twice")
            node = create_model(  # the YAML mapping {name: params}
                f"{name.title().replace('_', '')}Condition",
                __base__=ConditionNode,
                **{name: (params, ...)},
            )
            node.kind = name
            doc = (build.__doc__ or "").strip()
            self._kinds[name] = ConditionKind(name, params, build, check, doc, node, reads)
            return build

        return add

    def get(self, name: str) -> ConditionKind | None:
        return self._kinds.get(name)

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def describe(self) -> list[tuple[str, str]]:
        """(kind, one-line description) for every kind, combinators first (for `list`)."""
        leaves = [(k.name, k.doc.splitlines()[0]) for k in self._kinds.values()]
        return list(COMBINATORS.items()) + sorted(leaves)

    def hint(self, name: str) -> str:
        """"; did you mean 'engine'?" for a misspelt kind, else the list of kinds."""
        known = [*COMBINATORS, *self.names()]
        close = get_close_matches(name, known, n=1)
        if close:
            return f"; did you mean '{close[0]}'?"
        return "; known conditions: " + ", ".join(known)


COMBINATORS: dict[str, str] = {
    "all": "every condition in the list matches",
    "any": "at least one condition in the list matches",
    "not": "the condition does not match",
}
CONDITIONS = ConditionRegistry()


# ---------------------------------------------------------------------------------------------
# Leaf conditions. Each builder does its work (lower-casing, sets, regex) once, up front.


#: tuple.__new__ builds a named tuple from a tuple of its fields in C, skipping the generated
#: Python __new__ (what Fact._make does, minus its length check: the pair here is literal)
_new_tuple = tuple.__new__


def fact(kind: str, detail: str) -> Fact:
    return _new_tuple(Fact, (kind, detail))


#: a predicate that is one dict lookup: how to read the field, and the fact for each value
Lookup = tuple[Callable[[SightingView], Any], dict[Any, Fact]]
_LOOKUPS: WeakKeyDictionary[Predicate, Lookup] = WeakKeyDictionary()


def lookup_of(predicate: Predicate) -> Lookup | None:
    """For a `_member_of` predicate, its lookup: a compiled `all` inlines it (no call)."""
    return _LOOKUPS.get(predicate)


def _member_of(kind: str, attribute: str, wanted: Iterable[str]) -> Predicate:
    """A predicate: the view's `attribute` is one of `wanted`."""
    # one Fact per value, made now: a match then allocates nothing
    facts = {str(w): fact(kind, str(w)) for w in wanted}
    read = attrgetter(attribute)

    def match(view: SightingView) -> Fact | None:
        return facts.get(read(view))

    _LOOKUPS[match] = (read, facts)
    return match


def _check_ids(
    ids: Iterable[str], known: Iterable[str], what: str
) -> Iterator[tuple[Loc, str]]:
    known_ids = set(known)
    for index, value in enumerate(ids):
        if value not in known_ids:
            close = get_close_matches(value, sorted(known_ids), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            yield (index,), f"unknown {what} '{value}'{hint}"


def _check_markets(ids: list[str], program: Program) -> Iterator[tuple[Loc, str]]:
    return _check_ids(ids, (m.id for m in program.markets), "market")


def _check_networks(names: list[str], program: Program) -> Iterator[tuple[Loc, str]]:
    return _check_ids(names, ("any", *NETWORK_NAMES), "network")


def _check_partners(ids: list[str], program: Program) -> Iterator[tuple[Loc, str]]:
    return _check_ids(ids, (p.id for p in program.partners), "partner")


@CONDITIONS.register(
    "term_group", one_or_many(Annotated[str, StringConstraints(min_length=1)]), reads="term_group"
)
def term_group(groups: list[str], ctx: CompileContext) -> Predicate:
    """The task's term group is one of these (`brand-any`: any brand-related group)."""
    wanted = TermGroups.of(groups)
    facts: dict[str, Fact | None] = {}  # term groups are few: remember each verdict

    def match(view: SightingView) -> Fact | None:
        group = view.term_group
        if group not in facts:
            facts[group] = fact("term_group", group) if wanted.match(group) else None
        return facts[group]

    return match


@CONDITIONS.register("query_contains_brand", bool, reads="query_names_brand")
def query_contains_brand(expected: bool, ctx: CompileContext) -> Predicate:
    """The query names the brand (also misspelt by one edit); `false` inverts it."""

    def match(view: SightingView) -> Fact | None:
        found = view.query_names_brand
        if expected and found is not None:
            return fact("query_contains_brand", f"query '{view.query}' names {found}")
        if not expected and found is None:
            return fact("query_contains_brand", f"query '{view.query}' does not name the brand")
        return None

    return match


@CONDITIONS.register("engine", one_or_many(EngineName), reads="engine")
def engine(engines: list[str], ctx: CompileContext) -> Predicate:
    """The ad was seen on one of these engines."""
    return _member_of("engine", "engine", engines)


@CONDITIONS.register("market", one_or_many(Slug), check=_check_markets, reads="market")
def market(markets: list[str], ctx: CompileContext) -> Predicate:
    """The ad was seen in one of these markets (market ids)."""
    return _member_of("market", "market", markets)


@CONDITIONS.register("device", one_or_many(Device), reads="device")
def device(devices: list[Device], ctx: CompileContext) -> Predicate:
    """The ad was seen on one of these devices (desktop, mobile)."""
    return _member_of("device", "device", devices)


@CONDITIONS.register("position", one_or_many(AdPosition), reads="position")
def position(positions: list[AdPosition], ctx: CompileContext) -> Predicate:
    """The ad was in one of these positions (top, bottom, right, inline)."""
    return _member_of("position", "position", positions)


@CONDITIONS.register("advertiser_class", one_or_many(AdvertiserClass), reads="advertiser_class")
def advertiser_class(classes: list[AdvertiserClass], ctx: CompileContext) -> Predicate:
    """Whoever placed the ad is one of these (brand, partner, competitor, unknown)."""
    return _member_of("advertiser_class", "advertiser_class", classes)


def _domains(entries: list[str], ctx: CompileContext) -> frozenset[str]:
    """The listed domains, with the word `brand` standing for the brand's own domains."""
    plain = {e for e in entries if e != "brand"}
    return frozenset(plain | (ctx.brand_domains if "brand" in entries else set()))


def _domain_condition(
    kind: str, attribute: str, entries: list[str], ctx: CompileContext
) -> Predicate:
    wanted = _domains(entries, ctx)

    def match(view: SightingView) -> Fact | None:
        found = domain_in(getattr(view, attribute), wanted)
        return fact(kind, getattr(view, attribute)) if found else None

    return match


@CONDITIONS.register("landing_domain", one_or_many(DomainOrBrand))
def landing_domain(entries: list[str], ctx: CompileContext) -> Predicate:
    """The chain lands on one of these domains (or a subdomain); `brand`: the brand's own."""
    return _domain_condition("landing_domain", "landing_domain", entries, ctx)


@CONDITIONS.register("display_domain", one_or_many(DomainOrBrand))
def display_domain(entries: list[str], ctx: CompileContext) -> Predicate:
    """The ad's display URL is on one of these domains; `brand`: the brand's own."""
    return _domain_condition("display_domain", "display_domain", entries, ctx)


@CONDITIONS.register("network", one_or_many(Slug), check=_check_networks, reads="network")
def network(networks: list[str], ctx: CompileContext) -> Predicate:
    """The chain went through one of these affiliate networks; `any`: through any network."""
    if "any" in networks:

        def via_any(view: SightingView) -> Fact | None:
            return fact("network", view.network) if view.network else None

        return via_any
    return _member_of("network", "network", networks)


@CONDITIONS.register("partner", one_or_many(Slug), check=_check_partners, reads="partner")
def partner(partners: list[str], ctx: CompileContext) -> Predicate:
    """The ad was attributed to one of these partners (partner ids)."""
    return _member_of("partner", "partner", partners)


AdField = Literal["headline", "description", "display_url"]


@CONDITIONS.register("brand_in", one_or_many(AdField))
def brand_in(fields: list[str], ctx: CompileContext) -> Predicate:
    """A brand term or misspelling appears in one of these ad fields."""
    ordered = tuple(
        attrgetter(f"brand_in_{name}")
        for name in ("headline", "description", "display_url") if name in fields
    )

    def match(view: SightingView) -> Fact | None:
        for brand_fact in ordered:
            found = brand_fact(view)
            if found is not None:
                return found
        return None

    return match


class HourRange(BaseModel):
    """Local hours [from, to): `from: 22, to: 6` wraps midnight (22:00-05:59)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    start: int = Field(alias="from", ge=0, le=23)
    end: int = Field(alias="to", ge=0, le=24)

    @model_validator(mode="after")
    def _not_empty(self) -> HourRange:
        if self.start == self.end % 24:
            raise ValueError("from and to are the same hour; the range would be empty")
        return self


@CONDITIONS.register("local_hour", HourRange, reads="local_hour")
def local_hour(hours: HourRange, ctx: CompileContext) -> Predicate:
    """The ad was seen between these hours in the market's time zone; may wrap midnight."""
    inside = frozenset(
        h for h in range(24)
        if (hours.start <= h < hours.end if hours.start < hours.end
            else h >= hours.start or h < hours.end)
    )

    def match(view: SightingView) -> Fact | None:
        return fact("local_hour", view.local_clock) if view.local_hour in inside else None

    return match


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@CONDITIONS.register("weekday", one_or_many(Weekday), reads="local_weekday")
def weekday(days: list[str], ctx: CompileContext) -> Predicate:
    """The ad was seen on one of these days (mon..sun) in the market's time zone."""
    wanted = frozenset(WEEKDAYS.index(d) for d in days)

    facts = {day: fact("weekday", WEEKDAYS[day]) for day in wanted}

    def match(view: SightingView) -> Fact | None:
        return facts.get(view.local_weekday)

    return match


class TextPattern(BaseModel):
    """A regular expression searched (case-insensitively) in one field of the sighting."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: Literal["query", "headline", "description", "display_url", "landing_url"]
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as err:
            raise ValueError(f"regular expression does not compile: {err}") from None
        return value


@CONDITIONS.register("matches", TextPattern)
def matches(spec: TextPattern, ctx: CompileContext) -> Predicate:
    """A regular expression matches a field (query, headline, description, display_url, …)."""
    search = re.compile(spec.pattern, re.IGNORECASE).search  # texts are casefolded already

    def match(view: SightingView) -> Fact | None:
        found = search(getattr(view, spec.field))
        return fact("matches", f"{spec.field} '{found.group(0)}'") if found else None

    return match




class QueryTerms(BaseModel):
    """Search terms matched against the query the way ad platforms match keywords."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the query is exactly one of these (case, spacing and punctuation aside)
    exact: list[str] = []
    #: one of these appears in the query as a whole phrase, words in order
    phrase: list[str] = []
    #: every word of one of these appears in the query, in any order
    contains: list[str] = []

    @model_validator(mode="after")
    def _something(self) -> QueryTerms:
        if not (self.exact or self.phrase or self.contains):
            raise ValueError("give at least one of exact, phrase, contains")
        return self


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", text.casefold()))


@CONDITIONS.register("query", QueryTerms, reads="query")
def query(terms: QueryTerms, ctx: CompileContext) -> Predicate:
    """The query matches these terms: exact, as a phrase, or containing every word."""
    exact = {_words(t): t for t in terms.exact}
    phrases = [(_words(t), t) for t in terms.phrase]
    contains = [(frozenset(_words(t)), t) for t in terms.contains]

    def match(view: SightingView) -> Fact | None:
        words = _words(view.query)
        if words in exact:
            return fact("query", f"exactly '{exact[words]}'")
        joined = f" {' '.join(words)} "
        for phrase, term in phrases:
            if phrase and f" {' '.join(phrase)} " in joined:
                return fact("query", f"phrase '{term}'")
        present = frozenset(words)
        for needed, term in contains:
            if needed and needed <= present:
                return fact("query", f"contains '{term}'")
        return None

    return match
