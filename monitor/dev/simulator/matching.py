"""Which market a search is in, and which ads and misbehaviours apply to it."""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.dev.simulator.scenario import Ad, Market, Misbehaviour, Scenario


@dataclass(frozen=True, slots=True)
class Search:
    """One result page asked of the simulator."""

    engine: str
    query: str  # normalised: trimmed, inner whitespace collapsed
    market: Market | None
    device: str
    language: str  # the interface language the page is written in


def normalise_query(raw: str) -> str:
    return " ".join(raw.split())


def resolve_market(scenario: Scenario, country: str | None, language: str | None) -> Market | None:
    """The market with this country and language, else the first with this country."""
    if not country:
        return None
    country = country.upper()
    language = (language or "").lower().split("-")[0].split("_")[0]
    same_country = [m for m in scenario.markets if m.country == country]
    exact = [m for m in same_country if m.language == language]
    found = exact or same_country
    return found[0] if found else None


def _pattern_hit(patterns: list[str] | None, query: str) -> bool:
    if patterns is None:
        return True
    return any(re.fullmatch(p, query, re.IGNORECASE) for p in patterns)


def _allowed(choices: list[str] | None, value: str | None) -> bool:
    return choices is None or value in choices


def _local_hour(market: Market | None, now: datetime) -> int:
    zone = ZoneInfo(market.timezone) if market else ZoneInfo("UTC")
    return now.astimezone(zone).hour


def shows(ad: Ad, search: Search, now: datetime) -> bool:
    """True when the ad is served for this search at this moment."""
    market_id = search.market.id if search.market else None
    return (
        _allowed(ad.engines, search.engine)
        and _allowed(ad.markets, market_id)
        and _allowed(ad.devices, search.device)  # type: ignore[arg-type]
        and (ad.hours is None or _local_hour(search.market, now) in ad.hours)
        and _pattern_hit(ad.queries, search.query)
    )


class Impressions:
    """Counts each ad's showings, so a rotating ad shows its headlines in turn."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def next(self, ad_id: str) -> int:
        with self._lock:
            return next(self._counters.setdefault(ad_id, itertools.count()))


def ads_for(
    scenario: Scenario, search: Search, now: datetime, impressions: Impressions | None = None
) -> list[Ad]:
    """The ads served for this search; a rotating ad with the headline of its turn."""
    ads = [ad for ad in scenario.ads if shows(ad, search, now)]
    if impressions is None:
        return ads
    return [ad.model_copy(update={"headline": ad.headline_for(impressions.next(ad.id))})
            if ad.rotating_headlines else ad for ad in ads]


def misbehaviour_for(scenario: Scenario, search: Search) -> Misbehaviour | None:
    """The first misbehaviour rule that applies, when misbehaving is switched on."""
    if not scenario.misbehave.enabled:
        return None
    market_id = search.market.id if search.market else None
    for rule in scenario.misbehave.rules:
        if (
            _allowed(rule.engines, search.engine)
            and _allowed(rule.markets, market_id)
            and _pattern_hit(rule.queries, search.query)
        ):
            return rule
    return None


@dataclass(frozen=True, slots=True)
class Organic:
    title: str
    url: str
    text: str


def organic_for(scenario: Scenario, query: str) -> list[Organic]:
    """Unpaid results: the scenario's sites whose host, title or text carries a query word."""
    words = [w.lower() for w in query.split() if len(w) >= 3]
    results = []
    for site in scenario.sites:
        haystack = " ".join([*site.hosts, site.title, site.text]).lower()
        if words and any(word in haystack for word in words):
            results.append(Organic(site.title, f"https://{site.hosts[0]}/", site.text))
    return results
