"""The rule engine: policies and agreements compiled once, then judged against many sightings.

A policy's `when:` is a tree of conditions written in YAML. `all`, `any` and `not` combine;
every other key is a leaf kind from ONE registry (`CONDITIONS`): a params type that pydantic
validates and a build function that turns the params into a predicate
`(SightingView) -> Fact | None`. A new kind of condition is one decorated function.

`compile_policies(program)` returns a `Judge`; `Judge.judge(sighting)` returns the findings,
sorted by policy id. Judging is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from difflib import get_close_matches
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.models import AdPosition, AdvertiserClass, Device, Fact, Finding, Severity, Sighting
from monitor.networks import NETWORK_NAMES

if TYPE_CHECKING:
    from monitor.program import Brand, Permission, Policy, Program

# ---------------------------------------------------------------------------------------------
# Value types shared with monitor.program (they live here because condition params use them).

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


class SightingView:
    """The fields conditions compare, normalised once: lower-cased texts, domains, local time."""

    __slots__ = (
        "_local",
        "advertiser_class",
        "brand",
        "description",
        "device",
        "display_domain",
        "display_url",
        "engine",
        "headline",
        "landing_domain",
        "landing_url",
        "market",
        "network",
        "partner",
        "position",
        "query",
        "sighting",
        "term_group",
    )

    def __init__(self, sighting: Sighting, brand: BrandTerms) -> None:
        task, ad, attribution = sighting.task, sighting.ad, sighting.attribution
        self.sighting = sighting
        self.brand = brand
        self.engine: str = task.engine
        self.market: str = task.market.id
        self.device: str = task.device
        self.term_group: str = task.term_group
        self.query = task.query.casefold()
        self.position: str = ad.position
        self.headline = ad.headline.casefold()
        self.description = ad.description.casefold()
        self.display_url = ad.display_url.casefold()
        self.landing_url = sighting.chain.landing_url.casefold()
        self.advertiser_class: str = attribution.advertiser_class
        self.partner = attribution.partner
        self.network = attribution.network.network if attribution.network else None
        self.landing_domain = (attribution.landing_domain or "").casefold()
        self.display_domain = (attribution.display_domain or "").casefold()
        self._local: datetime | None = None

    @property
    def local(self) -> datetime:
        """When the ad was seen, in the market's time zone (computed on first use)."""
        if self._local is None:
            seen = self.sighting.seen_at
            if seen.tzinfo is None:  # the contract says UTC; a naive value is taken as UTC
                seen = seen.replace(tzinfo=UTC)
            self._local = seen.astimezone(zone(self.sighting.task.market.timezone))
        return self._local

    @property
    def local_date(self) -> date:
        return self.local.date()


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
    """One leaf kind: its name, params type, predicate builder and optional program check."""

    name: str
    params: Any
    build: Callable[[Any, CompileContext], Predicate]
    check: Checker | None
    doc: str
    node: type[ConditionNode]


class ConditionRegistry:
    """Kind name -> ConditionKind. The YAML syntax, validation and `rules check` all read it."""

    def __init__(self) -> None:
        self._kinds: dict[str, ConditionKind] = {}

    def register(
        self, name: str, params: Any, check: Checker | None = None
    ) -> Callable[[Callable[[Any, CompileContext], Predicate]], Callable[..., Predicate]]:
        """Decorator: `@CONDITIONS.register("engine", one_or_many(EngineName))`."""

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
            self._kinds[name] = ConditionKind(name, params, build, check, doc, node)
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


def _fact(kind: str, detail: str) -> Fact:
    return Fact(condition=kind, detail=detail)


def _member_of(kind: str, attribute: str, wanted: Iterable[str]) -> Predicate:
    """A predicate: the view's `attribute` is one of `wanted`."""
    # one Fact per value, made now: a match then allocates nothing
    facts = {str(w): _fact(kind, str(w)) for w in wanted}

    def match(view: SightingView) -> Fact | None:
        return facts.get(getattr(view, attribute))

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


@CONDITIONS.register("term_group", one_or_many(Annotated[str, StringConstraints(min_length=1)]))
def term_group(groups: list[str], ctx: CompileContext) -> Predicate:
    """The task's term group is one of these (`brand-any`: any brand-related group)."""
    wanted = TermGroups.of(groups)
    facts: dict[str, Fact | None] = {}  # term groups are few: remember each verdict

    def match(view: SightingView) -> Fact | None:
        group = view.term_group
        if group not in facts:
            facts[group] = _fact("term_group", group) if wanted.match(group) else None
        return facts[group]

    return match


@CONDITIONS.register("query_contains_brand", bool)
def query_contains_brand(expected: bool, ctx: CompileContext) -> Predicate:
    """The query names the brand (also misspelt by one edit); `false` inverts it."""

    def match(view: SightingView) -> Fact | None:
        found = view.brand.in_query(view.query)
        if expected and found is not None:
            return _fact("query_contains_brand", f"query '{view.query}' names {found}")
        if not expected and found is None:
            return _fact("query_contains_brand", f"query '{view.query}' does not name the brand")
        return None

    return match


@CONDITIONS.register("engine", one_or_many(EngineName))
def engine(engines: list[str], ctx: CompileContext) -> Predicate:
    """The ad was seen on one of these engines."""
    return _member_of("engine", "engine", engines)


@CONDITIONS.register("market", one_or_many(Slug), check=_check_markets)
def market(markets: list[str], ctx: CompileContext) -> Predicate:
    """The ad was seen in one of these markets (market ids)."""
    return _member_of("market", "market", markets)


@CONDITIONS.register("device", one_or_many(Device))
def device(devices: list[Device], ctx: CompileContext) -> Predicate:
    """The ad was seen on one of these devices (desktop, mobile)."""
    return _member_of("device", "device", devices)


@CONDITIONS.register("position", one_or_many(AdPosition))
def position(positions: list[AdPosition], ctx: CompileContext) -> Predicate:
    """The ad was in one of these positions (top, bottom, right, inline)."""
    return _member_of("position", "position", positions)


@CONDITIONS.register("advertiser_class", one_or_many(AdvertiserClass))
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
        return _fact(kind, getattr(view, attribute)) if found else None

    return match


@CONDITIONS.register("landing_domain", one_or_many(DomainOrBrand))
def landing_domain(entries: list[str], ctx: CompileContext) -> Predicate:
    """The chain lands on one of these domains (or a subdomain); `brand`: the brand's own."""
    return _domain_condition("landing_domain", "landing_domain", entries, ctx)


@CONDITIONS.register("display_domain", one_or_many(DomainOrBrand))
def display_domain(entries: list[str], ctx: CompileContext) -> Predicate:
    """The ad's display URL is on one of these domains; `brand`: the brand's own."""
    return _domain_condition("display_domain", "display_domain", entries, ctx)


@CONDITIONS.register("network", one_or_many(Slug), check=_check_networks)
def network(networks: list[str], ctx: CompileContext) -> Predicate:
    """The chain went through one of these affiliate networks; `any`: through any network."""
    if "any" in networks:

        def via_any(view: SightingView) -> Fact | None:
            return _fact("network", view.network) if view.network else None

        return via_any
    return _member_of("network", "network", networks)


@CONDITIONS.register("partner", one_or_many(Slug), check=_check_partners)
def partner(partners: list[str], ctx: CompileContext) -> Predicate:
    """The ad was attributed to one of these partners (partner ids)."""
    return _member_of("partner", "partner", partners)


AdField = Literal["headline", "description", "display_url"]


@CONDITIONS.register("brand_in", one_or_many(AdField))
def brand_in(fields: list[str], ctx: CompileContext) -> Predicate:
    """A brand term or misspelling appears in one of these ad fields."""
    ordered = tuple(f for f in ("headline", "description", "display_url") if f in fields)

    def match(view: SightingView) -> Fact | None:
        for name in ordered:
            text = getattr(view, name)
            found = view.brand.in_url(text) if name == "display_url" else view.brand.in_text(text)
            if found:
                return _fact("brand_in", f"'{found}' in {name}")
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


@CONDITIONS.register("local_hour", HourRange)
def local_hour(hours: HourRange, ctx: CompileContext) -> Predicate:
    """The ad was seen between these hours in the market's time zone; may wrap midnight."""
    inside = frozenset(
        h for h in range(24)
        if (hours.start <= h < hours.end if hours.start < hours.end
            else h >= hours.start or h < hours.end)
    )

    def match(view: SightingView) -> Fact | None:
        local = view.local
        return _fact("local_hour", local.strftime("%H:%M %Z")) if local.hour in inside else None

    return match


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@CONDITIONS.register("weekday", one_or_many(Weekday))
def weekday(days: list[str], ctx: CompileContext) -> Predicate:
    """The ad was seen on one of these days (mon..sun) in the market's time zone."""
    wanted = frozenset(WEEKDAYS.index(d) for d in days)

    def match(view: SightingView) -> Fact | None:
        day = view.local.weekday()
        return _fact("weekday", WEEKDAYS[day]) if day in wanted else None

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
        return _fact("matches", f"{spec.field} '{found.group(0)}'") if found else None

    return match


# ---------------------------------------------------------------------------------------------
# The condition tree: all/any/not plus the leaves, as one pydantic type.


class AllCondition(ConditionNode):
    kind: ClassVar[str] = "all"
    all: list[Condition] = Field(min_length=1)


class AnyCondition(ConditionNode):
    kind: ClassVar[str] = "any"
    any: list[Condition] = Field(min_length=1)


class NotCondition(ConditionNode):
    kind: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")

    @property
    def params(self) -> Any:
        return self.not_


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, ConditionNode):
        return value.kind
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if isinstance(key, str) else None
    return None


def _condition_shape(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Refuse what is not a one-key mapping naming a known kind, with a helpful message."""
    if isinstance(value, ConditionNode):
        return value
    if not isinstance(value, dict) or not value:
        raise PydanticCustomError(
            "condition_type", "a condition is a mapping with one key, e.g. 'engine: [google]'"
        )
    if len(value) > 1:
        keys = ", ".join(map(str, value))
        raise PydanticCustomError(
            "condition_keys",
            "a condition has one key, found {count} ({keys}); combine them with 'all: [...]'",
            {"count": len(value), "keys": keys},
        )
    kind = str(next(iter(value)))
    if kind not in COMBINATORS and CONDITIONS.get(kind) is None:
        raise PydanticCustomError(
            "condition_kind", "unknown condition '{kind}'{hint}",
            {"kind": kind, "hint": CONDITIONS.hint(kind)},
        )
    return handler(value)


def _condition_type() -> Any:
    members = [Annotated[AllCondition, Tag("all")], Annotated[AnyCondition, Tag("any")],
               Annotated[NotCondition, Tag("not")]]
    for name in CONDITIONS.names():
        kind = CONDITIONS.get(name)
        assert kind is not None
        members.append(Annotated[kind.node, Tag(name)])
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union
        Discriminator(_condition_tag),
        WrapValidator(_condition_shape),
    ]


#: the YAML condition tree; built from the registry once every leaf above is registered
Condition = _condition_type()
for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild(_types_namespace={"Condition": Condition})


def node_model(kind: str) -> type[ConditionNode] | None:
    """The pydantic model for one kind's mapping (for error hints in `rules check`)."""
    combinators = {"all": AllCondition, "any": AnyCondition, "not": NotCondition}
    if kind in combinators:
        return combinators[kind]
    leaf = CONDITIONS.get(kind)
    return leaf.node if leaf else None


def condition_problems(node: ConditionNode, program: Program) -> Iterator[tuple[Loc, str]]:
    """Cross-references a condition tree makes (market and partner ids…) that do not exist."""
    if isinstance(node, AllCondition | AnyCondition):
        for index, child in enumerate(node.params):
            for loc, message in condition_problems(child, program):
                yield (node.kind, index, *loc), message
        return
    if isinstance(node, NotCondition):
        for loc, message in condition_problems(node.not_, program):
            yield ("not", *loc), message
        return
    leaf = CONDITIONS.get(node.kind)
    if leaf is not None and leaf.check is not None:
        for loc, message in leaf.check(node.params, program):
            yield (node.kind, *loc), message


def describe(node: ConditionNode) -> str:
    """A short text for a condition, used in the fact a `not` reports."""
    if isinstance(node, AllCondition | AnyCondition):
        return f"{node.kind}(" + ", ".join(describe(c) for c in node.params) + ")"
    if isinstance(node, NotCondition):
        return f"not {describe(node.not_)}"
    params = node.params
    if isinstance(params, list):
        params = ", ".join(str(p) for p in params)
    elif isinstance(params, BaseModel):
        params = ", ".join(f"{k}={v}" for k, v in params.model_dump().items())
    return f"{node.kind}: {params}"


# ---------------------------------------------------------------------------------------------
# Compiling a tree into a Matcher.


def compile_condition(node: ConditionNode, ctx: CompileContext) -> Matcher:
    """The tree as one function returning the facts that made it match, or None."""
    if isinstance(node, AllCondition):
        return _compile_all(node.all, ctx)
    if isinstance(node, AnyCondition):
        return _compile_any(node.any, ctx)
    if isinstance(node, NotCondition):
        return _compile_not(node.not_, ctx)
    return _as_matcher(_leaf_predicate(node, ctx))


def _leaf_predicate(node: ConditionNode, ctx: CompileContext) -> Predicate:
    leaf = CONDITIONS.get(node.kind)
    if leaf is None:  # validation refuses unknown kinds, so this is a programming error
        raise KeyError(f"unknown condition kind {node.kind!r}")
    return leaf.build(node.params, ctx)


def _as_matcher(predicate: Predicate) -> Matcher:
    def match(view: SightingView) -> tuple[Fact, ...] | None:
        fact = predicate(view)
        return None if fact is None else (fact,)

    return match


def _compile_all(children: list[ConditionNode], ctx: CompileContext) -> Matcher:
    # leaves are called directly (no wrapper) and before subtrees: they are the cheap tests
    leaves = tuple(_leaf_predicate(c, ctx) for c in children if c.kind not in COMBINATORS)
    subtrees = tuple(compile_condition(c, ctx) for c in children if c.kind in COMBINATORS)

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        facts: list[Fact] = []
        for predicate in leaves:
            fact = predicate(view)
            if fact is None:
                return None
            facts.append(fact)
        for subtree in subtrees:
            found = subtree(view)
            if found is None:
                return None
            facts.extend(found)
        return tuple(facts)

    return match


def _compile_any(children: list[ConditionNode], ctx: CompileContext) -> Matcher:
    options = tuple(compile_condition(c, ctx) for c in children)

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        for option in options:
            found = option(view)
            if found is not None:
                return found
        return None

    return match


def _compile_not(child: ConditionNode, ctx: CompileContext) -> Matcher:
    inner = compile_condition(child, ctx)
    fact = (_fact("not", describe(child)),)

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        return fact if inner(view) is None else None

    return match


# ---------------------------------------------------------------------------------------------
# Agreements: which permissions are in force for a partner on a date.


@dataclass(frozen=True, slots=True)
class Grant:
    """One compiled Permission: None means any engine/market/term group/device."""

    engines: frozenset[str] | None
    markets: frozenset[str] | None
    devices: frozenset[str] | None
    term_groups: TermGroups | None

    @classmethod
    def of(cls, permission: Permission) -> Grant:
        return cls(
            _frozen(permission.engines),
            _frozen(permission.markets),
            _frozen(permission.devices),
            TermGroups.of(permission.term_groups) if permission.term_groups is not None else None,
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

    def in_force(self, partner: str, day: date) -> VersionInForce | None:
        """The version in force on `day`; the latest-starting one should versions overlap."""
        for version in reversed(self._versions.get(partner, ())):
            if version.covers(day):
                return version
        return None

    def permits(self, policy: str, view: SightingView) -> bool:
        if view.partner is None or view.partner not in self._versions:
            return False
        version = self.in_force(view.partner, view.local_date)
        if version is None:
            return False
        return any(grant.allows(view) for grant in version.grants.get(policy, ()))


def _grants(permissions: Iterable[Permission]) -> dict[str, tuple[Grant, ...]]:
    by_policy: dict[str, list[Grant]] = {}
    for permission in permissions:
        by_policy.setdefault(permission.policy, []).append(Grant.of(permission))
    return {policy: tuple(grants) for policy, grants in by_policy.items()}


# ---------------------------------------------------------------------------------------------
# The judge.


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    id: str
    title: str
    severity: Severity
    clause: str | None
    notice: str | None
    match: Matcher

    def finding(self, sighting: Sighting, facts: tuple[Fact, ...]) -> Finding:
        return Finding(
            policy=self.id,
            severity=self.severity,
            offender=sighting.offender,
            partner=sighting.attribution.partner,
            term_group=sighting.task.term_group,
            title=self.title,
            clause=self.clause,
            notice_template=self.notice,
            facts=facts,
        )


def compile_policy(policy: Policy, ctx: CompileContext) -> CompiledPolicy:
    return CompiledPolicy(
        policy.id, policy.title, policy.severity, policy.clause, policy.notice,
        compile_condition(policy.when, ctx),
    )


class Judge:
    """The compiled program. `judge` is pure and safe to call from many threads."""

    def __init__(self, program: Program) -> None:
        self._ctx = CompileContext(program)
        self._ignore = frozenset(program.ignore)
        self._allow = frozenset(program.allowlist)
        self._book = AgreementBook(program)
        ordered = sorted(program.policies, key=lambda p: p.id)
        compiled = {p.id: compile_policy(p, self._ctx) for p in ordered}
        self._by_class: dict[str, tuple[CompiledPolicy, ...]] = {
            cls: tuple(compiled[p.id] for p in ordered if cls in p.applies_to)
            for cls in AdvertiserClass
        }

    def judge(self, sighting: Sighting) -> list[Finding]:
        """Every policy the sighting breaches and no agreement permits, sorted by policy id."""
        attribution = sighting.attribution
        if self._exempt(attribution.display_domain, attribution.landing_domain):
            return []
        if attribution.advertiser_class is AdvertiserClass.brand:
            return []
        policies = self._by_class.get(attribution.advertiser_class, ())
        if not policies:
            return []
        view = SightingView(sighting, self._ctx.brand_terms(sighting.task.brand))
        findings = []
        for policy in policies:
            facts = policy.match(view)
            if facts is not None and not self._book.permits(policy.id, view):
                findings.append(policy.finding(sighting, facts))
        return findings

    def _exempt(self, *domains: str | None) -> bool:
        """On the ignore list or the allowlist: never judged."""
        for domain in domains:
            if domain and (domain_in(domain.casefold(), self._ignore)
                           or domain_in(domain.casefold(), self._allow)):
                return True
        return False


def compile_policies(program: Program) -> Judge:
    """Compile every policy and agreement of a (validated) program once."""
    return Judge(program)
