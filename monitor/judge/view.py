"""The view of one sighting that conditions read: built once per sighting, then shared."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from typing import (
    Generic,
    TypeVar,
    overload,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.judge.brand_terms import BrandTerms
from monitor.models import (
    Fact,
    Sighting,
)

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
        self.ad_kind: str = sighting.ad.kind
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




#: tuple.__new__ builds a named tuple from a tuple of its fields in C, skipping the generated
#: Python __new__ (what Fact._make does, minus its length check: the pair here is literal)
_new_tuple = tuple.__new__


def fact(kind: str, detail: str) -> Fact:
    return _new_tuple(Fact, (kind, detail))
